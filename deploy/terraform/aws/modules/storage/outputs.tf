output "media_bucket" {
  description = "Name of the media bucket."
  value       = aws_s3_bucket.this["media"].id
}

output "media_bucket_arn" {
  description = "ARN of the media bucket."
  value       = aws_s3_bucket.this["media"].arn
}

output "backups_bucket" {
  description = "Name of the backups bucket (QUIRE_BACKUP_DEST=s3://NAME/db)."
  value       = aws_s3_bucket.this["backups"].id
}

output "backups_bucket_arn" {
  description = "ARN of the backups bucket."
  value       = aws_s3_bucket.this["backups"].arn
}

output "logs_bucket" {
  description = "Bucket for access logs (S3 under media/ and backups/, the load balancer under alb/)."
  value       = aws_s3_bucket.logs.id
}
