output "security_group_id" {
  description = "Security group of the tasks (the database admits it)."
  value       = aws_security_group.tasks.id
}

output "alb_dns_name" {
  description = "The load balancer's DNS name (the DNS module aliases the site to it)."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "The load balancer's hosted zone, for alias records."
  value       = aws_lb.this.zone_id
}

output "alb_arn_suffix" {
  description = "For CloudWatch alarms on the load balancer."
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn_suffix" {
  description = "For CloudWatch alarms on the web target group."
  value       = aws_lb_target_group.web.arn_suffix
}

output "cluster_name" {
  description = "ECS cluster name (deploy.yml runs the migration task in it)."
  value       = aws_ecs_cluster.this.name
}

output "migrate_task_definition" {
  description = "Family of the one-off migration task."
  value       = aws_ecs_task_definition.migrate.family
}

output "secret_arns" {
  description = "Secrets to fill in once after the first apply (database-url, secret-key, smtp-url)."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.arn }
}
