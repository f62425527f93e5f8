variable "region" {
  type    = string
  default = "eu-central-1"
}

variable "bucket_name" {
  description = "Bucket the nodes share (globally unique)."
  type        = string
}

variable "key_prefix" {
  type    = string
  default = "hoshino"
}

variable "ula_prefix" {
  description = "The four 16-bit groups of the nodes' /64 inside fc00::/7."
  type        = string
  default     = "fd5e:59b8:f71d:9a3e"
}

variable "node_count" {
  type    = number
  default = 2
}

variable "instance_type" {
  type    = string
  default = "t3.micro"
}

variable "subnet_id" {
  description = "Subnet for the nodes (with a route to S3, e.g. a gateway VPC endpoint); null: the default VPC."
  type        = string
  default     = null
}

variable "ssh_key_name" {
  type    = string
  default = null
}

variable "repo_url" {
  description = "Where the VMs clone hoshino from."
  type        = string
}

variable "repo_ref" {
  type    = string
  default = "main"
}
