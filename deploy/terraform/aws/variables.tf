variable "environment" {
  description = "Environment name: stage or prod."
  type        = string
  validation {
    condition     = contains(["stage", "prod"], var.environment)
    error_message = "environment is stage or prod."
  }
}

variable "region" {
  description = "AWS region, e.g. eu-west-1."
  type        = string
}

variable "image" {
  description = "Quire's image by digest (REPO@sha256:…); deploy.yml passes the digest release.yml built."
  type        = string
}

variable "domain_name" {
  description = "The site's host name."
  type        = string
}

variable "zone_id" {
  description = "Route 53 hosted zone of domain_name."
  type        = string
}

variable "bucket_prefix" {
  description = "Globally unique prefix of the S3 bucket names, e.g. acme-quire."
  type        = string
}

variable "availability_zones" {
  description = "The two availability zones, named, e.g. [\"eu-west-1a\", \"eu-west-1b\"]."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "The VPC's address range."
  type        = string
  default     = "10.40.0.0/16"
}

variable "nat_gateways" {
  description = "1 (stage) or 2 (prod, one per AZ)."
  type        = number
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "db_multi_az" {
  description = "A standby database in the second AZ."
  type        = bool
}

variable "web_min_count" {
  description = "Fewest web tasks (at least 2)."
  type        = number
}

variable "web_max_count" {
  description = "Most web tasks autoscaling may run."
  type        = number
}

variable "worker_count" {
  description = "Worker tasks."
  type        = number
  default     = 1
}

variable "alarm_emails" {
  description = "Who the alarms email."
  type        = list(string)
}

variable "extra_environment" {
  description = "More non-secret Quire settings for every task."
  type        = map(string)
  default     = {}
}

variable "protect" {
  description = "Deletion protection for the database, buckets and load balancer (prod: true)."
  type        = bool
}
