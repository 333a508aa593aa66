variable "name" {
  description = "Prefix of every resource's name, e.g. quire-stage."
  type        = string
}

variable "azs" {
  description = "Exactly two availability zones, by name."
  type        = list(string)
  validation {
    condition     = length(var.azs) == 2
    error_message = "Give exactly two availability zones."
  }
}

variable "cidr_block" {
  description = "The VPC's address range; public subnets take its /24s 0-1, private ones 10-11."
  type        = string
  default     = "10.40.0.0/16"
}

variable "nat_gateways" {
  description = "NAT gateways for the private subnets' outbound traffic: 1 (cheaper, stage) or 2 (one per AZ, prod)."
  type        = number
  default     = 2
  validation {
    condition     = contains([1, 2], var.nat_gateways)
    error_message = "nat_gateways must be 1 or 2."
  }
}

variable "log_retention_days" {
  description = "Days flow logs are kept."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the flow log group."
  type        = string
}
