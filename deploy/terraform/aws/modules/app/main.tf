# ECS Fargate: web replicas behind an ALB (health check /readyz), workers,
# and a one-off migration task definition run by the deploy before the
# services change. Secrets come from Secrets Manager; the roles can do only
# what Quire needs.

data "aws_region" "current" {}

locals {
  region = data.aws_region.current.region
  secret_env = {
    QUIRE_DATABASE_URL = aws_secretsmanager_secret.this["database-url"].arn
    QUIRE_SECRET_KEY   = aws_secretsmanager_secret.this["secret-key"].arn
    QUIRE_SMTP_URL     = aws_secretsmanager_secret.this["smtp-url"].arn
  }
  environment = merge({
    QUIRE_PUBLIC_URL              = "https://${var.domain_name}/"
    QUIRE_TRUSTED_PROXIES         = var.vpc_cidr
    QUIRE_LOG_FORMAT              = "json"
    QUIRE_WORKER                  = "off"
    QUIRE_WAIT_FOR_DB             = "true"
    QUIRE_SHUTDOWN_DRAIN          = "5s"
    QUIRE_SHUTDOWN_TIMEOUT        = "30s"
    QUIRE_WORKER_SHUTDOWN_TIMEOUT = "30s"
    QUIRE_REPLICAS                = tostring(var.web_max_count)
    QUIRE_METRICS_BIND            = "127.0.0.1:9464"
    QUIRE_BACKUP_SCHEDULE         = var.backup_schedule
    QUIRE_BACKUP_DEST             = "s3://${var.backups_bucket}/db"
    QUIRE_DATA_DIR                = "/tmp/quire"
    AWS_REGION                    = local.region
    OTEL_RESOURCE_ATTRIBUTES      = "deployment.environment=${var.environment}"
  }, var.extra_environment)
  common_container = {
    image                  = var.image
    essential              = true
    readonlyRootFilesystem = true
    user                   = "10001:10001"
    environment            = [for k, v in local.environment : { name = k, value = v }]
    secrets                = [for k, v in local.secret_env : { name = k, valueFrom = v }]
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp" }]
    linuxParameters        = { initProcessEnabled = true }
  }
}

# --- secrets: containers made here, values put in by the operator ---------
resource "aws_secretsmanager_secret" "this" {
  # checkov:skip=CKV2_AWS_57:Quire cannot follow a rotated value without a restart; rotate by hand (docs/operations.md, "Rotate the secret key") and redeploy.
  for_each    = toset(["database-url", "secret-key", "smtp-url"])
  name_prefix = "${var.name}/${each.key}-"
  description = "Quire ${var.environment}: ${each.key} (set with aws secretsmanager put-secret-value)"
  kms_key_id  = var.kms_key_arn
}

# --- network ------------------------------------------------------------
resource "aws_security_group" "alb" {
  name_prefix = "${var.name}-alb-"
  description = "Load balancer for ${var.name}: HTTPS from anywhere"
  vpc_id      = var.vpc_id
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from readers"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "http" {
  # checkov:skip=CKV_AWS_260:Port 80 only answers a redirect to HTTPS (listener below); no content is served on it.
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from readers, redirected to HTTPS"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the web tasks"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
}

resource "aws_security_group" "tasks" {
  name_prefix = "${var.name}-tasks-"
  description = "Quire tasks for ${var.name}: HTTP from the load balancer only"
  vpc_id      = var.vpc_id
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "HTTP from the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
}

resource "aws_vpc_security_group_egress_rule" "tasks_out" {
  # checkov:skip=CKV_AWS_382:Tasks reach the database, S3, Secrets Manager, SMTP, Sentry and OTLP endpoints whose addresses are not fixed; outbound goes through the NAT gateways.
  security_group_id = aws_security_group.tasks.id
  description       = "Outbound: database, AWS APIs, SMTP, telemetry"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

# --- load balancer --------------------------------------------------------
resource "aws_lb" "this" {
  # checkov:skip=CKV2_AWS_28:A WAF is optional (cost); attach one with aws_wafv2_web_acl_association where wanted.
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.protect
  idle_timeout               = 60
  access_logs {
    bucket  = var.logs_bucket
    prefix  = "alb"
    enabled = true
  }
}

resource "aws_lb_target_group" "web" {
  name_prefix          = "quire-"
  port                 = 8080
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  # Longer than QUIRE_SHUTDOWN_DRAIN + QUIRE_SHUTDOWN_TIMEOUT: requests in
  # flight on a task being replaced finish before the ALB lets go.
  deregistration_delay = 40
  health_check {
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"
  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

# --- ECS ----------------------------------------------------------------
resource "aws_ecs_cluster" "this" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_task_definition" "web" {
  family                   = "${var.name}-web"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.web_cpu
  memory                   = var.web_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([merge(local.common_container, {
    name         = "web"
    command      = ["serve", "--no-worker"]
    portMappings = [{ containerPort = 8080, protocol = "tcp" }]
    healthCheck = {
      command     = ["CMD", "quire", "healthcheck"]
      interval    = 10
      timeout     = 5
      retries     = 3
      startPeriod = 20
    }
    stopTimeout = 45
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = var.log_groups.web
        awslogs-region        = local.region
        awslogs-stream-prefix = "web"
      }
    }
  })])
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "${var.name}-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.worker_cpu
  memory                   = var.worker_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([
    merge(local.common_container, {
      name        = "worker"
      command     = ["worker"]
      stopTimeout = 45
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = var.log_groups.worker
          awslogs-region        = local.region
          awslogs-stream-prefix = "worker"
        }
      }
    }),
    # Scrapes the worker's Prometheus metrics (127.0.0.1:9464) into
    # CloudWatch (namespace Quire), where the queue-backlog alarm reads them.
    {
      name                   = "metrics"
      image                  = var.cloudwatch_agent_image
      essential              = false
      readonlyRootFilesystem = false
      environment = [
        { name = "PROMETHEUS_CONFIG_CONTENT", value = yamlencode({
          global = { scrape_interval = "30s" }
          scrape_configs = [{
            job_name       = "quire"
            static_configs = [{ targets = ["127.0.0.1:9464"], labels = { service = "worker" } }]
          }]
        }) },
        { name = "CW_CONFIG_CONTENT", value = jsonencode({
          logs = { metrics_collected = { prometheus = {
            log_group_name = var.log_groups.metrics
            emf_processor = {
              metric_namespace = "Quire"
              metric_declaration = [{
                source_labels    = ["job"]
                label_matcher    = "^quire$"
                dimensions       = [["state"]]
                metric_selectors = ["^quire_jobs$"]
              }]
            }
          } } }
        }) },
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = var.log_groups.metrics
          awslogs-region        = local.region
          awslogs-stream-prefix = "agent"
        }
      }
    },
  ])
}

# One-off: the deploy runs it (aws ecs run-task) and waits for exit 0 before
# updating the services; see .github/workflows/deploy.yml.
resource "aws_ecs_task_definition" "migrate" {
  family                   = "${var.name}-migrate"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([merge(local.common_container, {
    name    = "migrate"
    command = ["migrate", "up"]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = var.log_groups.migrate
        awslogs-region        = local.region
        awslogs-stream-prefix = "migrate"
      }
    }
  })])
}

resource "aws_ecs_service" "web" {
  name                              = "web"
  cluster                           = aws_ecs_cluster.this.id
  task_definition                   = aws_ecs_task_definition.web.arn
  desired_count                     = var.web_min_count
  launch_type                       = "FARGATE"
  health_check_grace_period_seconds = 30
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }
  load_balancer {
    target_group_arn = aws_lb_target_group.web.arn
    container_name   = "web"
    container_port   = 8080
  }
  propagate_tags = "SERVICE"
  lifecycle {
    # Autoscaling owns the count once running.
    ignore_changes = [desired_count]
  }
  depends_on = [aws_lb_listener.https]
}

resource "aws_ecs_service" "worker" {
  name                               = "worker"
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.worker.arn
  desired_count                      = var.worker_count
  launch_type                        = "FARGATE"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }
  propagate_tags = "SERVICE"
}

# --- autoscaling (web) --------------------------------------------------------
resource "aws_appautoscaling_target" "web" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.web.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.web_min_count
  max_capacity       = var.web_max_count
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${var.name}-web-cpu"
  service_namespace  = aws_appautoscaling_target.web.service_namespace
  resource_id        = aws_appautoscaling_target.web.resource_id
  scalable_dimension = aws_appautoscaling_target.web.scalable_dimension
  policy_type        = "TargetTrackingScaling"
  target_tracking_scaling_policy_configuration {
    target_value       = 60
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "requests" {
  name               = "${var.name}-web-requests"
  service_namespace  = aws_appautoscaling_target.web.service_namespace
  resource_id        = aws_appautoscaling_target.web.resource_id
  scalable_dimension = aws_appautoscaling_target.web.scalable_dimension
  policy_type        = "TargetTrackingScaling"
  target_tracking_scaling_policy_configuration {
    target_value       = var.requests_per_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.this.arn_suffix}/${aws_lb_target_group.web.arn_suffix}"
    }
  }
}

# --- IAM ----------------------------------------------------------------
data "aws_iam_policy_document" "ecs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# What ECS itself needs to start a task: pull, write logs, read the secrets.
resource "aws_iam_role" "execution" {
  name_prefix        = "${var.name}-exec-"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secrets" {
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [for s in aws_secretsmanager_secret.this : s.arn]
  }
  statement {
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution_secrets.json
}

# What Quire does with AWS: backups (and media) in its own buckets.
resource "aws_iam_role" "task" {
  name_prefix        = "${var.name}-task-"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "ListOwnBuckets"
    actions   = ["s3:ListBucket"]
    resources = [var.backups_bucket_arn, var.media_bucket_arn]
  }
  statement {
    sid = "ObjectsInOwnBuckets"
    actions = [
      "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
    ]
    resources = ["${var.backups_bucket_arn}/*", "${var.media_bucket_arn}/*"]
  }
  statement {
    sid       = "BucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid       = "MetricsAgent"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["arn:aws:logs:${local.region}:*:log-group:${var.log_groups.metrics}:*"]
  }
}

resource "aws_iam_role_policy" "task" {
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}
