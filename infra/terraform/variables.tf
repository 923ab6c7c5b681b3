variable "table_name" {
  description = "DynamoDB table of the service; the service reads it from DEPLOYSTATUS_TABLE."
  type        = string
  default     = "deployment-status"
}

variable "region" {
  description = "AWS region of the table. Null: the provider's default (AWS_REGION, the profile)."
  type        = string
  default     = null
}
