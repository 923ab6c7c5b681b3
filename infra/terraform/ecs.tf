# The service on ECS Fargate behind an ALB (modules/ecs_service): created only when the
# `ecs` variable is set, so that `terraform apply` alone still declares just the table.
# docs/deploy.md ("ECS Fargate") shows a terraform.tfvars.

variable "ecs" {
  description = "The ECS Fargate service and its load balancer; null (the default): none."
  type = object({
    image              = string
    vpc_id             = string
    public_subnet_ids  = list(string)
    private_subnet_ids = list(string)
    certificate_arn    = string
    tokens_secret_arn  = string
    cursor_secret_arn  = string
    desired_count      = optional(number, 2)
    internal           = optional(bool, false)
    allowed_cidrs      = optional(list(string), ["0.0.0.0/0"])
  })
  default = null
}

module "ecs_service" {
  source = "./modules/ecs_service"
  count  = var.ecs == null ? 0 : 1

  image              = var.ecs.image
  vpc_id             = var.ecs.vpc_id
  public_subnet_ids  = var.ecs.public_subnet_ids
  private_subnet_ids = var.ecs.private_subnet_ids
  certificate_arn    = var.ecs.certificate_arn
  tokens_secret_arn  = var.ecs.tokens_secret_arn
  cursor_secret_arn  = var.ecs.cursor_secret_arn
  desired_count      = var.ecs.desired_count
  internal           = var.ecs.internal
  allowed_cidrs      = var.ecs.allowed_cidrs

  table_name = aws_dynamodb_table.deployment_status.name
  policy_arn = aws_iam_policy.service.arn
}

output "alb_dns_name" {
  description = "DNS name of the ECS service's load balancer (null without `ecs`)."
  value       = one(module.ecs_service[*].alb_dns_name)
}

output "ecs_log_group_name" {
  description = "CloudWatch log group of the ECS tasks (null without `ecs`)."
  value       = one(module.ecs_service[*].log_group_name)
}
