provider "aws" {
  region = var.region
}

# Must describe exactly what deploystatus.storage.store.table_definition() creates
# (tests/tooling/test_infra.py checks it): string keys PK (hash) and SK (range), on-demand
# billing, no secondary index. docs/design.md explains the layout.
resource "aws_dynamodb_table" "deployment_status" {
  name         = var.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "PK"
  range_key    = "SK"

  attribute {
    name = "PK"
    type = "S"
  }

  attribute {
    name = "SK"
    type = "S"
  }

  # Deployment history is the point of the service: keep 35 days of restore points
  # and refuse deletion until protection is explicitly turned off.
  point_in_time_recovery {
    enabled = true
  }

  deletion_protection_enabled = true

  # History items carry Expires when DEPLOYSTATUS_HISTORY_RETENTION_DAYS is set; current
  # state never does. Without the setting no item has the attribute, and nothing expires.
  ttl {
    attribute_name = "Expires"
    enabled        = true
  }

  # Encrypted with the AWS managed key (aws/dynamodb): callers need no KMS permission.
  server_side_encryption {
    enabled = true
  }
}

# What the running service needs, and nothing more: the actions of
# deploystatus.store.Store at run time (writes, reads, the /readyz check, removing one
# record through the admin route). Creating or deleting the table is Terraform's job, not
# the service's.
data "aws_iam_policy_document" "service" {
  statement {
    sid    = "DeployStatusTable"
    effect = "Allow"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:DeleteItem",
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [
      aws_dynamodb_table.deployment_status.arn,
      "${aws_dynamodb_table.deployment_status.arn}/index/*",
    ]
  }
}

resource "aws_iam_policy" "service" {
  name        = "deploystatus-${var.table_name}"
  description = "deploystatus service: read and write the ${var.table_name} DynamoDB table"
  policy      = data.aws_iam_policy_document.service.json
}
