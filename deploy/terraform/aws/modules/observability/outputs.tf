output "log_groups" {
  description = "Log group names by process: web, worker, migrate, metrics."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.name }
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify."
  value       = aws_sns_topic.alarms.arn
}
