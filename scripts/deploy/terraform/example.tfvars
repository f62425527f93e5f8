# terraform apply -var-file=example.tfvars
region      = "eu-central-1"
bucket_name = "hoshino-example-0123456789"
node_count  = 2
repo_url    = "https://example.com/your/hoshino.git"
ssh_key_name = "my-key"
