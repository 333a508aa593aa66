variable "name" {
  description = "Prefix of every resource's name, e.g. quire-prod."
  type        = string
}

variable "environment" {
  description = "stage or prod; tagged on traces as deployment.environment."
  type        = string
}

variable "image" {
  description = "The image to run, by digest (REPO@sha256:…): the same digest is promoted from stage to prod."
  type        = string
  validation {
    condition     = can(regex("@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest: REPO@sha256:<64 hex digits>."
  }
}

variable "domain_name" {
  description = "The site's host name (QUIRE_PUBLIC_URL is https:// it)."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for domain_name, on the HTTPS listener."
  type        = string
}

variable "vpc_cidr" {
  description = "The VPC's address range: the load balancer's nodes, whose X-Forwarded-For Quire trusts (QUIRE_TRUSTED_PROXIES)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the tasks and the load balancer."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the load balancer (two AZs)."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets of the tasks (two AZs)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key of the secrets and buckets."
  type        = string
}

variable "backups_bucket" {
  description = "Bucket name for QUIRE_BACKUP_DEST."
  type        = string
}

variable "backups_bucket_arn" {
  description = "ARN of the backups bucket (task role access)."
  type        = string
}

variable "media_bucket_arn" {
  description = "ARN of the media bucket (task role access, for when Quire stores uploads)."
  type        = string
}

variable "logs_bucket" {
  description = "Bucket receiving the load balancer's access logs (prefix alb/)."
  type        = string
}

variable "log_groups" {
  description = "CloudWatch log group names: web, worker, migrate, metrics."
  type = object({
    web     = string
    worker  = string
    migrate = string
    metrics = string
  })
}

variable "web_min_count" {
  description = "Fewest web tasks (2 or more: one can be replaced while the other serves)."
  type        = number
  default     = 2
  validation {
    condition     = var.web_min_count >= 2
    error_message = "Run at least 2 web tasks, so a rolling deploy always has one serving."
  }
}

variable "web_max_count" {
  description = "Most web tasks autoscaling may run; keep max x QUIRE_DB_POOL_SIZE under the database's max_connections."
  type        = number
}

variable "worker_count" {
  description = "Worker tasks."
  type        = number
  default     = 1
}

variable "web_cpu" {
  description = "CPU units of a web task (1024 = one vCPU)."
  type        = number
  default     = 512
}

variable "web_memory" {
  description = "Memory of a web task, MiB."
  type        = number
  default     = 1024
}

variable "worker_cpu" {
  description = "CPU units of a worker task."
  type        = number
  default     = 256
}

variable "worker_memory" {
  description = "Memory of a worker task, MiB."
  type        = number
  default     = 512
}

variable "requests_per_target" {
  description = "ALB requests per web task per minute that autoscaling aims at."
  type        = number
  default     = 3000
}

variable "backup_schedule" {
  description = "QUIRE_BACKUP_SCHEDULE: cron (UTC) of periodic backups by the worker."
  type        = string
  default     = "0 30 3 * * *"
}

variable "cloudwatch_agent_image" {
  description = "CloudWatch agent image of the metrics sidecar, pinned (by digest in prod)."
  type        = string
  default     = "public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300062.0b1304"
}

variable "extra_environment" {
  description = "More non-secret settings (QUIRE_SITE_TITLE, QUIRE_REGISTRATION, OTEL_EXPORTER_OTLP_ENDPOINT…)."
  type        = map(string)
  default     = {}
}

variable "protect" {
  description = "Deletion protection on the load balancer (prod: true)."
  type        = bool
}
