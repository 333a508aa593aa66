# Stage: production's shape at a smaller size. The image is not here: the
# deploy passes -var image=REPO@sha256:… (the digest release.yml built).
environment        = "stage"
region             = "eu-west-1"
availability_zones = ["eu-west-1a", "eu-west-1b"]
domain_name        = "stage.blog.example.com"
zone_id            = "Z0000000000000000000"
bucket_prefix      = "acme-quire"
nat_gateways       = 1
db_instance_class  = "db.t4g.micro"
db_multi_az        = false
web_min_count      = 2
web_max_count      = 4
worker_count       = 1
alarm_emails       = ["ops@example.com"]
protect            = false
extra_environment  = {
  QUIRE_SITE_TITLE = "Quire (stage)"
}
