#!/usr/bin/python
# Copyright: cdc-lab contributors. Apache-2.0.
"""Documentation of the action plugin cdc_lab.lab.fast_path (it runs on the controller; there is no module code)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fast_path
short_description: Settle a re-run of the lab from the record of the last successful one, or say why it cannot be
description:
  - >-
    I(mode=record), the last task of a successful converge, writes the record, a digest of everything the lab is made
    from (the project's playbooks, roles, inventory, variables files, collection and package; the extra variables;
    the generated configuration, the manifest, the containers' records; the credentials' presence, size and mode,
    never their content) and each container's converged options (written by M(cdc_lab.lab.container)).
  - >-
    I(mode=check), the first task of C(make lab), compares. When the digest matches and every recorded container
    runs, is healthy and carries its recorded configuration hash, and no other container of the lab exists, the run
    is settled as C(unchanged) and the rest of the lab play is skipped. When the digest matches and some or all of
    the recorded containers are gone or stopped (after C(make down), a crash the restart policy gave up on, a
    C(docker stop); one its restart policy has just started is waited for), while the others run as recorded, every
    data volume and image is there and their ports are free, it starts those from their records in the play's order
    (reporting why each had stopped, with its last log lines) and waits for all the lab's containers together:
    C(started). Anything else is C(full), with the reason.
  - >-
    I(mode=forget) removes the record until a successful whole run writes it again. A role calls it before its first
    change that no file digest or container hash shows (MySQL's accounts and grants, the connector's configuration
    in Kafka Connect); a run that stops before such a change keeps the record.
  - >-
    Tags other than C(all)/C(verify), skipped tags, C(--start-at-task), C(--limit) and I(enabled=false) always give
    C(full).
  - >-
    Runs on the controller. In check mode it changes nothing.
options:
  mode: {description: check, forget or record., type: str, required: true, choices: [check, forget, record]}
  enabled: {description: false always gives a full run (the variable lab_fast_path)., type: bool, default: true}
  project_dir: {description: The project directory., type: path, required: true}
  inputs:
    description: Files and directories of the project the lab is made from (relative to project_dir).
    type: list
    elements: str
    required: true
  state_dir: {description: The lab's state directory., type: path, required: true}
  state_inputs:
    description: >-
      Files and directories of the state directory that are part of the lab (C(credentials*) by size and mode
      only).
    type: list
    elements: str
    required: true
  record: {description: The record file., type: path, required: true}
  lab: {description: Name of the lab (the label C(cdc-lab.lab))., type: str, required: true}
  network: {description: "The lab network: name and subnet (I(mode=record)).", type: dict, default: {}}
  records_dir: {description: Where the containers' records are (I(mode=record))., type: path}
  containers:
    description: The containers in the order the play converges them (I(mode=record)).
    type: list
    elements: str
    default: []
  project_digest:
    description: >-
      (I(mode=record)) The digest of the project's inputs that the I(mode=check) task of the same run returned: a
      file edited while the run went on then makes the next run converge. Taken anew when absent.
    type: str
author: cdc-lab
"""

RETURN = r"""
path:
  description: "unchanged, started or full (I(mode=check)); recorded or not recorded (I(mode=record))."
  type: str
  returned: always
why: {description: Why the run took that path., type: str, returned: I(mode=check)}
project_digest:
  description: The digest of the project's inputs as this run found them.
  type: str
  returned: I(mode=check)
containers:
  description: What happened to each container (service, name, action, seconds).
  type: list
  returned: when settled
"""
