"""Which persona answers for a phone number, as a project sees it (the sandbox's test-user rules),
and where each number stands in its persona's sequence of outcomes over successive flows."""

from __future__ import annotations

from emulator.errors import ProveError, sandbox_user_access_denied, sandbox_user_not_found
from emulator.phone import normalize
from emulator.projects import ProjectRegistry
from emulator.scenarios.model import DEFAULT_PERSONA, Catalogue, Persona

# Numbers whose flows are counted, across projects. Only numbers of personas with a sequence are
# counted, and only until their sequence is over; past this bound the oldest count is dropped
# (that number starts its sequence again), so a flood of pattern numbers cannot grow memory.
MAX_COUNTED_NUMBERS = 10_000

# (project, scenario set, persona key, number's digits): a pattern persona counts each number apart.
FlowCountKey = tuple[str, str, str, str]


class Personas:
    def __init__(self, projects: ProjectRegistry, catalogue: Catalogue) -> None:
        self.projects = projects
        self.catalogue = catalogue  # replaced whole when the scenario files are reloaded
        self._flows: dict[FlowCountKey, int] = {}  # flows started so far, capped at the sequence's length

    def resolve(self, project_id: str, phone_number: str) -> Persona:
        """The persona behind a number as its next flow will see it (the step of its sequence);
        counts nothing, so lookups (fault checks, enrolment) never move a sequence on.
        8007/8009 when the project rejects unknown numbers."""
        persona = self._written(project_id, phone_number)
        if not persona.sequence:
            return persona
        return persona.for_flow(self._flows.get(self._key(project_id, persona, phone_number), 0) + 1)

    def count_flow(self, project_id: str, phone_number: str, persona: Persona) -> None:
        """A flow of this number starts with `persona` (from `resolve`): its sequence moves on."""
        if not phone_number:
            return
        try:
            written = self._written(project_id, phone_number)
        except ProveError:  # a refused number starts no flow: nothing to count
            return
        # A flow that took another persona (e.g. the default one for a type the number is no test
        # user of) is not one of this persona's flows.
        if not written.sequence or persona.key != written.key:
            return
        key = self._key(project_id, written, phone_number)
        done = self._flows.pop(key, 0)  # re-inserted last: the dict's order is the eviction order
        self._flows[key] = min(done + 1, written.sequence_length)
        while len(self._flows) > MAX_COUNTED_NUMBERS:
            del self._flows[next(iter(self._flows))]

    def counts(self, project_id: str) -> list[tuple[str, str, str, int]]:
        """How far the project's numbers are in their personas' sequences: (set, persona, digits, flows)."""
        return [(scenario_set, key, digits, count)
                for (project, scenario_set, key, digits), count in self._flows.items() if project == project_id]

    def restore_counts(self, project_id: str, counts: list[tuple[str, str, str, int]]) -> None:
        for scenario_set, key, digits, count in counts:
            self._flows[(project_id, scenario_set, key, digits)] = count

    def reset(self, project_id: str | None = None) -> None:
        """Sequences start again: every project's, or one project's."""
        if project_id is None:
            self._flows.clear()
        else:
            self._flows = {key: count for key, count in self._flows.items() if key[0] != project_id}

    def _written(self, project_id: str, phone_number: str) -> Persona:
        """The persona as its scenario file writes it."""
        project = self.projects.get(project_id)
        assert project is not None
        persona = self.catalogue.find(phone_number, project.scenario_sets)
        rejects = project.unknown_numbers == "reject"
        if persona is None:
            if rejects:
                raise sandbox_user_not_found(phone_number)
            return DEFAULT_PERSONA
        if persona.products and not (persona.products & project.products):
            if rejects:
                raise sandbox_user_access_denied(phone_number, project.product_label)
            return DEFAULT_PERSONA
        return persona

    @staticmethod
    def _key(project_id: str, persona: Persona, phone_number: str) -> FlowCountKey:
        return project_id, persona.scenario_set, persona.key, normalize(phone_number)
