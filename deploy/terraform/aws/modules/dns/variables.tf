variable "zone_id" {
  description = "Route 53 hosted zone that holds domain_name."
  type        = string
}

variable "domain_name" {
  description = "The site's host name, e.g. blog.example.com."
  type        = string
}

variable "alb_dns_name" {
  description = "The load balancer's DNS name, target of the alias records."
  type        = string
}

variable "alb_zone_id" {
  description = "The load balancer's hosted zone id, for the alias records."
  type        = string
}
