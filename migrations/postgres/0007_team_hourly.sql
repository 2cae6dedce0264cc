-- Executions per team, hour and status only: the dashboard's per-day series and
-- peak-hours heat map in the viewer's time zone read this narrow table (a row
-- per hour and status) instead of the wide hourly roll-up.
CREATE TABLE rollup_team_hourly (
  team_id TEXT NOT NULL,
  hour BIGINT NOT NULL,
  status TEXT NOT NULL,
  executions BIGINT NOT NULL,
  PRIMARY KEY (team_id, hour, status)
);
