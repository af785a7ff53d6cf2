"""The email channel: parse, classify, fetch (IMAP), receive (SMTP), compose and send."""
