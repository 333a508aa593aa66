variable "name" {
  description = "Prefix of the bucket names (globally unique), e.g. acme-quire-prod."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the media and backup buckets."
  type        = string
}

variable "protect" {
  description = "Refuse to destroy non-empty buckets (prod: true)."
  type        = bool
}

variable "backup_noncurrent_days" {
  description = "Days a backup pruned by Quire stays recoverable as a noncurrent version."
  type        = number
  default     = 30
}

variable "log_retention_days" {
  description = "Days S3 access logs are kept."
  type        = number
  default     = 365
}
