# Quire on AWS: one root module, two environments that differ only by their
# variable files (environments/stage, environments/prod), both over the same
# modules, both taking the image by digest so prod runs what stage ran.
#
#   terraform init -backend-config=environments/stage/backend.hcl
#   terraform plan -var-file=environments/stage/terraform.tfvars -var image=REPO@sha256:…
#
# Not applied from the repository's own machines: validated statically by
# deploy/validate (checkov, and an HCL parse of every module and environment).

locals {
  name = "quire-${var.environment}"
}

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_111:A key policy's "*" resource is the key itself; the account administers it through IAM.
  # checkov:skip=CKV_AWS_356:A key policy's "*" resource is the key itself, not every resource.
  # checkov:skip=CKV_AWS_109:The account root must keep kms:* on its own key, or the key becomes unmanageable.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid = "ServicesEncrypt"
    actions = [
      "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com", "sns.amazonaws.com", "cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "Quire ${var.environment}: database, buckets, secrets, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.this.key_id
}

module "network" {
  source       = "./modules/network"
  name         = local.name
  cidr_block   = var.vpc_cidr
  azs          = var.availability_zones
  nat_gateways = var.nat_gateways
  kms_key_arn  = aws_kms_key.this.arn
}

module "storage" {
  source      = "./modules/storage"
  name        = "${var.bucket_prefix}-${var.environment}"
  kms_key_arn = aws_kms_key.this.arn
  protect     = var.protect
}

module "observability" {
  source                  = "./modules/observability"
  name                    = local.name
  kms_key_arn             = aws_kms_key.this.arn
  alb_arn_suffix          = module.app.alb_arn_suffix
  target_group_arn_suffix = module.app.target_group_arn_suffix
  alarm_emails            = var.alarm_emails
}

module "dns" {
  source       = "./modules/dns"
  zone_id      = var.zone_id
  domain_name  = var.domain_name
  alb_dns_name = module.app.alb_dns_name
  alb_zone_id  = module.app.alb_zone_id
}

module "app" {
  source             = "./modules/app"
  name               = local.name
  environment        = var.environment
  image              = var.image
  domain_name        = var.domain_name
  certificate_arn    = module.dns.certificate_arn
  vpc_id             = module.network.vpc_id
  vpc_cidr           = var.vpc_cidr
  public_subnet_ids  = module.network.public_subnet_ids
  private_subnet_ids = module.network.private_subnet_ids
  kms_key_arn        = aws_kms_key.this.arn
  backups_bucket     = module.storage.backups_bucket
  backups_bucket_arn = module.storage.backups_bucket_arn
  media_bucket_arn   = module.storage.media_bucket_arn
  logs_bucket        = module.storage.logs_bucket
  log_groups         = module.observability.log_groups
  web_min_count      = var.web_min_count
  web_max_count      = var.web_max_count
  worker_count       = var.worker_count
  extra_environment  = var.extra_environment
  protect            = var.protect
}

module "database" {
  source                   = "./modules/database"
  name                     = local.name
  vpc_id                   = module.network.vpc_id
  subnet_ids               = module.network.private_subnet_ids
  client_security_group_id = module.app.security_group_id
  kms_key_arn              = aws_kms_key.this.arn
  instance_class           = var.db_instance_class
  multi_az                 = var.db_multi_az
  deletion_protection      = var.protect
}
