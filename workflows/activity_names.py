"""Names of the activities the workflows call. Workflows refer to activities by name so that the
workflow sandbox never imports database code (activities/ holds the implementations)."""

RECORD_EVENT = "record_event"
COMPUTE_DEADLINES = "compute_deadlines"
RESOLVE_AGENCY = "resolve_agency"
OPEN_FOLLOW_ON = "open_follow_on"
ACTIVE_AGENCIES = "active_agencies"
DELIVER_OUTBOUND = "deliver_outbound"
CARE_PERIODS = "care_periods"
OPEN_CASES_OF_CHILD = "open_cases_of_child"
REFRESH_OPENED = "refresh_opened"
REFRESH_ESCALATED = "refresh_escalated"
REFRESH_DONE = "refresh_done"
