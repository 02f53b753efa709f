// Package campaigns owns what is sent: the sequence steps of each list and its
// bonus emails, the scheduler that finds what is due, the outbox, and the
// dispatcher that sends outbox items through delivery.
package campaigns
