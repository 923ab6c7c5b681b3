# deploystatus on ECS Fargate behind an Application Load Balancer (docs/deploy.md, "ECS").
# The tasks run as the task role, which holds only the table's policy (the root module's
# aws_iam_policy.service); the tokens and the cursor secret come from Secrets Manager or SSM
# Parameter Store, read by the execution role at task start and never written here.

data "aws_region" "current" {}

data "aws_vpc" "this" {
  id = var.vpc_id
}

locals {
  port = 8080

  # One container; container_definitions is its JSON (tests/tooling/test_terraform_ecs.py
  # reads this object).
  container = {
    name      = var.name
    image     = var.image
    essential = true
    command   = ["deploystatus", "serve", "--host", "0.0.0.0", "--port", "8080"]
    user      = "10001:10001" # the Dockerfile's USER

    portMappings = [{ containerPort = local.port, protocol = "tcp" }]

    environment = [
      { name = "DEPLOYSTATUS_TABLE", value = var.table_name },
      { name = "AWS_REGION", value = data.aws_region.current.name },
      { name = "TZ", value = var.timezone },
      { name = "DEPLOYSTATUS_REQUIRE_AUTH", value = "true" },
      { name = "DEPLOYSTATUS_SHUTDOWN_TIMEOUT_SECONDS", value = tostring(var.shutdown_timeout_seconds) },
      # The load balancer terminates TLS: believe its X-Forwarded-Proto, from the VPC only.
      { name = "DEPLOYSTATUS_TRUSTED_PROXIES", value = data.aws_vpc.this.cidr_block },
    ]

    secrets = [
      { name = "DEPLOYSTATUS_TOKENS", valueFrom = var.tokens_secret_arn },
      { name = "DEPLOYSTATUS_CURSOR_SECRET", valueFrom = var.cursor_secret_arn },
    ]

    # Liveness, as the image's HEALTHCHECK: never DynamoDB, so that a DynamoDB incident
    # does not get every task replaced. Readiness (/readyz) is the target group's check.
    healthCheck = {
      command     = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 10
    }

    # SIGTERM, then this long before SIGKILL: above the service's own shutdown timeout.
    stopTimeout = 30

    readonlyRootFilesystem = true
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = var.name
      }
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

# Roles: the execution role pulls the image, writes the logs and reads the two secrets;
# the task role is what the service's AWS calls run as.

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "read_secrets" {
  statement {
    sid       = "ReadTheServiceSecrets"
    actions   = ["secretsmanager:GetSecretValue", "ssm:GetParameters"]
    resources = [var.tokens_secret_arn, var.cursor_secret_arn]
  }
}

resource "aws_iam_role_policy" "read_secrets" {
  name   = "${var.name}-read-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.read_secrets.json
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "task" {
  role       = aws_iam_role.task.name
  policy_arn = var.policy_arn
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = jsonencode([local.container])

  # Fargate's task storage, for /tmp on a read-only root filesystem.
  volume {
    name = "tmp"
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
}

resource "aws_ecs_service" "this" {
  name            = var.name
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.this.arn
  desired_count   = var.desired_count
  launch_type     = "FARGATE"

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 30

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.service.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.this.arn
    container_name   = var.name
    container_port   = local.port
  }

  depends_on = [aws_lb_listener.https]
}
