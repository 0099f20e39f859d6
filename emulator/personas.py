"""Which persona answers for a phone number, as a project sees it (the sandbox's test-user rules)."""

from __future__ import annotations

from emulator.errors import sandbox_user_access_denied, sandbox_user_not_found
from emulator.projects import ProjectRegistry
from emulator.scenarios.model import DEFAULT_PERSONA, Catalogue, Persona


class Personas:
    def __init__(self, projects: ProjectRegistry, catalogue: Catalogue) -> None:
        self.projects = projects
        self.catalogue = catalogue  # replaced whole when the scenario files are reloaded

    def resolve(self, project_id: str, phone_number: str) -> Persona:
        """The persona behind a number (8007/8009 when the project rejects unknown numbers)."""
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
