# terraform init -backend-config=environments/stage/backend.hcl
bucket       = "acme-terraform-state"
key          = "quire/stage.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
