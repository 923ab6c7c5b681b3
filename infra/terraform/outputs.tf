output "table_name" {
  description = "Set DEPLOYSTATUS_TABLE to this."
  value       = aws_dynamodb_table.deployment_status.name
}

output "table_arn" {
  description = "ARN of the table."
  value       = aws_dynamodb_table.deployment_status.arn
}

output "policy_arn" {
  description = "Attach to the service's role (IRSA, ECS task role, instance profile)."
  value       = aws_iam_policy.service.arn
}
