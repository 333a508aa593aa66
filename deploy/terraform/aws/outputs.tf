output "site" {
  description = "The site's address."
  value       = "https://${var.domain_name}/"
}

output "cluster_name" {
  description = "ECS cluster (deploy.yml)."
  value       = module.app.cluster_name
}

output "migrate_task_definition" {
  description = "The migration task's family (deploy.yml runs it before rolling)."
  value       = module.app.migrate_task_definition
}

output "secret_arns" {
  description = "Fill these once: database-url (postgres://quire:PASSWORD@HOST/quire), secret-key, smtp-url."
  value       = module.app.secret_arns
}

output "database_address" {
  description = "RDS host name, for the database-url secret."
  value       = module.database.address
}

output "database_master_secret_arn" {
  description = "Where RDS keeps the master password."
  value       = module.database.master_user_secret_arn
}

output "backups_bucket" {
  description = "QUIRE_BACKUP_DEST is s3://THIS/db."
  value       = module.storage.backups_bucket
}
