# terraform init -backend-config=environments/prod/backend.hcl
bucket       = "acme-terraform-state"
key          = "quire/prod.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
