// Package delivery sends rendered messages over SMTP (RFC 5321) with go-mail and
// classifies the outcome (RFC 3463 enhanced status codes). It knows nothing of
// subscribers or campaigns.
package delivery
