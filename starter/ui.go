package starter

import (
	"net/url"
	"strings"
)

// UILink returns the Temporal Web UI page of run's history under base (such as "http://127.0.0.1:8233"), or ""
// when base is empty because the UI's address is unknown.
func UILink(base, namespace string, run Run) string {
	if base == "" {
		return ""
	}
	u := strings.TrimSuffix(base, "/") + "/namespaces/" + url.PathEscape(namespace) + "/workflows"
	if run.RunID == "" {
		return u + "?query=" + url.QueryEscape("WorkflowId="+quote(run.WorkflowID))
	}
	return u + "/" + url.PathEscape(run.WorkflowID) + "/" + url.PathEscape(run.RunID) + "/history"
}
