output "bucket" {
  value = aws_s3_bucket.this.id
}

output "node_addresses" {
  description = "Each node's tunnel address, in instance order."
  value = [for h in local.node_hex : join(":", [for i in range(0, 32, 4) : substr(h, i, 4)])]
}

output "instance_ids" {
  value = aws_instance.node[*].id
}

output "public_ips" {
  value = aws_instance.node[*].public_ip
}
