variable "name" {
  description = "Prefix of the log groups, topic and alarms, e.g. quire-prod."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the log groups and the alarm topic."
  type        = string
}

variable "log_retention_days" {
  description = "Days logs are kept (365 or more for audits)."
  type        = number
  default     = 365
}

variable "alb_arn_suffix" {
  description = "The load balancer, for its alarms."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "The web target group, for its alarms."
  type        = string
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each confirms by email)."
  type        = list(string)
}

variable "latency_p99_seconds" {
  description = "p99 target response time above which the latency alarm fires."
  type        = number
  default     = 0.5
}

variable "queue_backlog_jobs" {
  description = "Queued jobs above which the backlog alarm fires."
  type        = number
  default     = 100
}
