# Prod: the same modules as stage; only sizes and protection differ. The
# image is the digest stage ran, passed by the deploy (-var image=…).
environment        = "prod"
region             = "eu-west-1"
availability_zones = ["eu-west-1a", "eu-west-1b"]
domain_name        = "blog.example.com"
zone_id            = "Z0000000000000000000"
bucket_prefix      = "acme-quire"
nat_gateways       = 2
db_instance_class  = "db.m7g.large"
db_multi_az        = true
web_min_count      = 2
web_max_count      = 10
worker_count       = 2
alarm_emails       = ["ops@example.com", "oncall@example.com"]
protect            = true
extra_environment  = {
  QUIRE_SITE_TITLE = "Quire"
}
