output "certificate_arn" {
  description = "The validated certificate, for the HTTPS listener."
  value       = aws_acm_certificate_validation.this.certificate_arn
}
