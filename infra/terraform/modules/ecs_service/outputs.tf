output "alb_dns_name" {
  description = "DNS name of the load balancer: point the service's DNS record at it."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone of the load balancer, for a Route 53 alias record."
  value       = aws_lb.this.zone_id
}

output "cluster_name" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "The ECS service."
  value       = aws_ecs_service.this.name
}

output "log_group_name" {
  description = "The CloudWatch log group of the tasks."
  value       = aws_cloudwatch_log_group.this.name
}

output "task_role_arn" {
  description = "The role the tasks run as (it holds the DynamoDB policy)."
  value       = aws_iam_role.task.arn
}
