"""The credential authority: for AWS, key → account → principal, through STS, IAM and Organizations;
the only room that calls AWS.  Nothing is imported here, so that boto3 loads only when a part is used."""
