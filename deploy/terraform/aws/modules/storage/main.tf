# S3 for media (uploads, once Quire has them) and for backups (quire backup
# s3://…, periodic backups by the worker): KMS-encrypted, versioned, never
# public, with lifecycle rules; access logs go to a third bucket.

locals {
  buckets = {
    media   = "${var.name}-media"
    backups = "${var.name}-backups"
  }
}

resource "aws_s3_bucket" "logs" {
  # checkov:skip=CKV_AWS_18:This is the access-log bucket; logging it to itself would loop.
  # checkov:skip=CKV_AWS_144:Access logs are not worth a second region.
  # checkov:skip=CKV2_AWS_62:Nothing reacts to new access-log objects.
  # checkov:skip=CKV_AWS_145:S3 server access logging and ALB logs deliver only to SSE-S3 (AES256) buckets, not SSE-KMS.
  bucket        = "${var.name}-s3-logs"
  force_destroy = !var.protect
}

resource "aws_s3_bucket" "this" {
  # checkov:skip=CKV_AWS_144:Backups are copied off-region by AWS Backup or a second `quire backup` target where wanted; cross-region replication is an operator's choice, not a default.
  # checkov:skip=CKV2_AWS_62:Quire does not react to object events; nothing subscribes.
  # checkov:skip=CKV2_AWS_61:Each has one (aws_s3_bucket_lifecycle_configuration.media and .backups); checkov does not follow for_each keys.
  for_each      = local.buckets
  bucket        = each.value
  force_destroy = !var.protect
}

resource "aws_s3_bucket_public_access_block" "all" {
  for_each                = merge(local.buckets, { logs = aws_s3_bucket.logs.id })
  bucket                  = each.key == "logs" ? aws_s3_bucket.logs.id : aws_s3_bucket.this[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.this[each.key].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      # S3 server access logging delivers only to SSE-S3 buckets.
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = merge(local.buckets, { logs = aws_s3_bucket.logs.id })
  bucket   = each.key == "logs" ? aws_s3_bucket.logs.id : aws_s3_bucket.this[each.key].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_logging" "this" {
  for_each      = local.buckets
  bucket        = aws_s3_bucket.this[each.key].id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "${each.key}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket = aws_s3_bucket.this["media"].id
  rule {
    id     = "old-versions-and-stale-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "backups" {
  bucket = aws_s3_bucket.this["backups"].id
  rule {
    id     = "backups"
    status = "Enabled"
    filter {}
    # Quire prunes beyond QUIRE_BACKUP_KEEP; a pruned (noncurrent) backup
    # stays recoverable for backup_noncurrent_days against a server that
    # deletes its own backups.
    noncurrent_version_expiration {
      noncurrent_days = var.backup_noncurrent_days
    }
    transition {
      days          = 30
      storage_class = "STANDARD_IA"
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
  }
  statement {
    sid       = "LoadBalancerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/*"]
    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }
  statement {
    sid       = "TLSOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs.json
}

data "aws_iam_policy_document" "tls_only" {
  for_each = local.buckets
  statement {
    sid       = "TLSOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this[each.key].arn, "${aws_s3_bucket.this[each.key].arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.this[each.key].id
  policy   = data.aws_iam_policy_document.tls_only[each.key].json
}
