package activities

import (
	"context"
	"errors"
)

// SignalWithStartInput signals a workflow, starting it first if it is not running.
type SignalWithStartInput struct {
	WorkflowID   string `json:"workflowId"`
	WorkflowType string `json:"workflowType"`
	TaskQueue    string `json:"taskQueue"`
	Signal       string `json:"signal"`
	SignalArg    any    `json:"signalArg"`
	WorkflowArg  any    `json:"workflowArg"`
}

// Temporal holds the activities that talk to Temporal itself. TODO(helper): implement.
type Temporal struct{}

func (t *Temporal) SignalWithStart(ctx context.Context, in SignalWithStartInput) error {
	return errors.New("not implemented")
}
