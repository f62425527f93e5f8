# The bucket the nodes share, and per node: an address chosen here (so its IAM policy can name it), a
# least-privilege role, and a Debian 12 instance that installs and starts hoshino through cloud-init.

locals {
  # "fd5e:59b8:f71d:9a3e" -> "fd5e59b8f71d9a3e": the first 16 hex digits of every node address.
  ula_hex = join("", [for g in split(":", var.ula_prefix) : format("%04x", parseint(g, 16))])
  # A node's address in keys: the /64's 16 hex digits and the node's own 16 (its machine-id's first).
  node_hex = [for i in range(var.node_count) : "${local.ula_hex}${random_id.node[i].hex}"]
  arn      = "arn:aws:s3:::${aws_s3_bucket.this.id}"
}

resource "aws_s3_bucket" "this" {
  bucket = var.bucket_name
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# A backstop: nodes delete what they consume, but objects for a node that never comes back expire.
resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    id     = "expire-hoshino-objects"
    status = "Enabled"
    filter {
      prefix = "${var.key_prefix}/"
    }
    expiration {
      days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# Node identities: 16 hex digits of interface identifier, plus 16 more to make a 32-digit machine-id.
resource "random_id" "node" {
  count       = var.node_count
  byte_length = 8
}

resource "random_id" "node_tail" {
  count       = var.node_count
  byte_length = 8
}

# The key that seals every object (--psk-file), shared by the nodes. It reaches them through SSM
# Parameter Store (SecureString), never through user data: any local user of a VM can read its user data
# from the instance metadata service. (Terraform's state holds it too: keep the state private.)
resource "random_id" "psk" {
  byte_length = 32
}

resource "aws_ssm_parameter" "psk" {
  name  = "/hoshino/${aws_s3_bucket.this.id}/psk"
  type  = "SecureString"
  value = random_id.psk.hex
}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  count              = var.node_count
  name               = "hoshino-node-${local.node_hex[count.index]}"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
}

# Write only as itself into others' inboxes; list, read and delete only its own inbox; ring any node's
# doorbell, watch only its own; list and read every presence record, write and remove only its own.
data "aws_iam_policy_document" "node" {
  count = var.node_count
  statement {
    sid       = "SendAsSelf"
    actions   = ["s3:PutObject"]
    resources = ["${local.arn}/${var.key_prefix}/*/${local.node_hex[count.index]}/*"]
  }
  statement {
    sid       = "ListOwnInbox"
    actions   = ["s3:ListBucket"]
    resources = [local.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.key_prefix}/${local.node_hex[count.index]}/*"]
    }
  }
  statement {
    sid       = "ReceiveFromOwnInbox"
    actions   = ["s3:GetObject", "s3:DeleteObject"]
    resources = ["${local.arn}/${var.key_prefix}/${local.node_hex[count.index]}/*"]
  }
  # Doorbells (<prefix>/bell/<address>): PUT to ring, a conditional GET to watch. Without ListBucket there,
  # a node's GET of its own bell before anyone rang it answers 403 AccessDenied, not 404.
  statement {
    sid       = "RingOthers"
    actions   = ["s3:PutObject"]
    resources = ["${local.arn}/${var.key_prefix}/bell/*"]
  }
  statement {
    sid       = "WatchOwnBell"
    actions   = ["s3:GetObject"]
    resources = ["${local.arn}/${var.key_prefix}/bell/${local.node_hex[count.index]}"]
  }
  # Presence records (<prefix>/peers/<address>): who is there, so packets to nobody are not PUT.
  statement {
    sid       = "ListPeers"
    actions   = ["s3:ListBucket"]
    resources = [local.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.key_prefix}/peers/*"]
    }
  }
  statement {
    sid       = "ReadPeers"
    actions   = ["s3:GetObject"]
    resources = ["${local.arn}/${var.key_prefix}/peers/*"]
  }
  statement {
    sid       = "PublishOwnPresence"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.arn}/${var.key_prefix}/peers/${local.node_hex[count.index]}.*"]
  }
  statement {
    sid       = "ReadPsk"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.psk.arn]
  }
}

resource "aws_iam_role_policy" "node" {
  count  = var.node_count
  name   = "hoshino-inbox"
  role   = aws_iam_role.node[count.index].id
  policy = data.aws_iam_policy_document.node[count.index].json
}

resource "aws_iam_instance_profile" "node" {
  count = var.node_count
  name  = "hoshino-node-${local.node_hex[count.index]}"
  role  = aws_iam_role.node[count.index].name
}

data "aws_ami" "debian12" {
  most_recent = true
  owners      = ["136693071363"] # Debian
  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }
}

resource "aws_instance" "node" {
  count                = var.node_count
  ami                  = data.aws_ami.debian12.id
  instance_type        = var.instance_type
  subnet_id            = var.subnet_id
  key_name             = var.ssh_key_name
  iam_instance_profile = aws_iam_instance_profile.node[count.index].name
  # IMDSv2 only: hoshino's credential provider uses session tokens.
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  user_data = templatefile("${path.module}/../cloud-init.yaml.tftpl", {
    bucket     = aws_s3_bucket.this.id
    ula        = "${var.ula_prefix}::/64"
    key_prefix = var.key_prefix
    region     = var.region
    machine_id = "${random_id.node[count.index].hex}${random_id.node_tail[count.index].hex}"
    psk_parameter = aws_ssm_parameter.psk.name
    repo_url   = var.repo_url
    repo_ref   = var.repo_ref
  })
  tags = {
    Name = "hoshino-${count.index}"
  }
}
