// Package api is the HTTP plumbing every gostack service shares: routes declared as data
// with their policy rule, token authentication, policy enforcement, request ids, JSON
// bodies with size limits, the mapping from errors to each service's fault body,
// pagination links, version documents and microversion negotiation, and the access log.
//
// A service hands the Server a Service value (a path prefix, a fault writer and a route
// table); handlers return errors instead of writing failures themselves, so every failure
// takes the one path through AsError and the service's FaultFunc.
package api
