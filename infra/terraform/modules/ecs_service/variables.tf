variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "deploystatus"
}

variable "image" {
  description = "The image to run, e.g. ACCOUNT.dkr.ecr.REGION.amazonaws.com/deploystatus:VERSION."
  type        = string
}

variable "table_name" {
  description = "DEPLOYSTATUS_TABLE."
  type        = string
}

variable "policy_arn" {
  description = "The service's least-privilege DynamoDB policy, attached to the task role."
  type        = string
}

variable "tokens_secret_arn" {
  description = "Secrets Manager secret or SSM SecureString parameter holding DEPLOYSTATUS_TOKENS."
  type        = string
}

variable "cursor_secret_arn" {
  description = "Secrets Manager secret or SSM SecureString parameter holding DEPLOYSTATUS_CURSOR_SECRET."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the load balancer and the tasks."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the load balancer (public ones for an internet-facing one)."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets of the tasks, with a route to DynamoDB, ECR, Secrets Manager and CloudWatch Logs (NAT or VPC endpoints)."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener: TLS ends at the load balancer."
  type        = string
}

variable "internal" {
  description = "An internal load balancer (reached from the VPC only)."
  type        = bool
  default     = false
}

variable "allowed_cidrs" {
  description = "Networks that may reach the load balancer."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "desired_count" {
  description = "Number of tasks."
  type        = number
  default     = 2
}

variable "cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 512
}

variable "memory" {
  description = "Fargate task memory (MiB)."
  type        = number
  default     = 1024
}

variable "shutdown_timeout_seconds" {
  description = "DEPLOYSTATUS_SHUTDOWN_TIMEOUT_SECONDS: kept below the container's stopTimeout."
  type        = number
  default     = 10
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log group."
  type        = number
  default     = 30
}

variable "timezone" {
  description = "TZ of every task: it decides how timestamps are rendered."
  type        = string
  default     = "UTC"
}
