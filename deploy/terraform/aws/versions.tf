terraform {
  required_version = ">= 1.9"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
  # State in S3 with locking; each environment's backend.hcl names the key:
  #   terraform init -backend-config=environments/stage/backend.hcl
  backend "s3" {}
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      Application = "quire"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
