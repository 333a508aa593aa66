variable "name" {
  description = "Identifier of the database instance and prefix of its resources."
  type        = string
}

variable "vpc_id" {
  description = "VPC the database lives in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (two AZs) for the DB subnet group."
  type        = list(string)
}

variable "client_security_group_id" {
  description = "Security group of the app tasks, the only ones allowed to connect."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights and the master password secret."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL version (major.minor); minor upgrades are applied automatically."
  type        = string
  default     = "17.6"
}

variable "instance_class" {
  description = "RDS instance class, e.g. db.t4g.micro (stage) or db.m7g.large (prod)."
  type        = string
}

variable "allocated_storage_gb" {
  description = "Initial storage in GiB; autoscaling goes up to four times this."
  type        = number
  default     = 20
}

variable "multi_az" {
  description = "A standby in the second AZ (prod: true)."
  type        = bool
}

variable "backup_retention_days" {
  description = "Days automated backups (point-in-time recovery) are kept; 7 or more."
  type        = number
  default     = 14
  validation {
    condition     = var.backup_retention_days >= 7
    error_message = "Keep automated backups at least 7 days."
  }
}

variable "deletion_protection" {
  description = "Refuse deletion and keep a final snapshot (prod: true)."
  type        = bool
}
