"""Hand-over: the child moves and the case goes with them. Inside this deployment the receiving agency
holds the hand-over step and acknowledges it; outside it, the sender records the receipt. A transfer packet
(迁出移交函) goes either way. Every process whose cases follow a moving child uses this."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.enums import AGENCY_TYPE_LABELS, AgencyType
    from domain.errors import DomainError
    from domain.messages import (
        ActionRequest,
        AgencyRef,
        ExternalParty,
        Handover,
        NotificationSpec,
        PartyGrant,
        StepState,
    )
    from domain.process import ACKNOWLEDGE, HANDOVER_STEP, RECORD_EXTERNAL_ACK, TRANSFER_PACKET
    from domain.regions import full_region_name, served_by
    from workflows.steps import StepMachinery


class Handovers(StepMachinery):
    async def hand_over(
        self,
        req: ActionRequest,
        *,
        destination: str,
        receiver_type: AgencyType,
        prefer_id: int | None = None,
        packet: dict[str, Any] | None = None,
        step: str = HANDOVER_STEP,
    ) -> StepState:
        """Hand the case to the agency of `receiver_type` serving `destination` (a county code). Inside
        this deployment the receiver holds the hand-over step and must acknowledge it; it reads the case
        from the hand-over on. Outside it, the sender holds the step until it records the receipt. Either
        way a transfer packet (迁出移交函) goes with it."""
        document = TRANSFER_PACKET.spec(
            destination_region=destination, from_agency=req.actor.agency.name, **(packet or {})
        )
        self._st.handover = Handover(sender=req.actor.agency, external=not self.serves(destination))
        if self.serves(destination):
            receiver = await self.resolve(receiver_type, destination, prefer_id=prefer_id)
            return await self.move(
                req,
                step,
                holder=receiver,
                document=document,
                parties=[PartyGrant(agency=receiver, role="receiver")],
            )
        receiver = ExternalParty(
            name=f"{full_region_name(destination) or destination}{AGENCY_TYPE_LABELS[receiver_type]}",
            region_code=destination,
            agency_type=receiver_type,
        )
        return await self.move(
            req, step, holder=req.actor.agency, document=document, payload={"external": True}, external=receiver
        )

    def handover_acknowledged(self, receiver: AgencyRef) -> list[NotificationSpec]:
        """The agency that handed the case over is told it arrived."""
        if self._st.handover is None:
            return []
        sender = self._st.handover.sender
        return [self.tell(sender, "handover_acknowledged", f"{self._st.case_no}：{receiver.name}已确认接收")]

    def check_handover_close(self, step: StepState, action: str) -> None:
        """Each kind of hand-over closes only its own way: a receiver in this deployment acknowledges
        (with a follow-on case, if the process offers one); an external one ends with the sender's
        record of the receipt."""
        if step.step != HANDOVER_STEP:
            return
        external = self._st.handover is not None and self._st.handover.external
        if action == ACKNOWLEDGE and external:
            raise DomainError("action_not_allowed", "迁入地不在本系统中，请记录迁入地回执")
        if action == RECORD_EXTERNAL_ACK and not external:
            receiver = AGENCY_TYPE_LABELS[AgencyType(step.holder.agency_type)]
            raise DomainError("action_not_allowed", f"迁入地{receiver}在本系统中，须由其确认接收")

    def check_handover(self, destination: str) -> None:
        """A hand-over goes to another county."""
        if destination == self._st.county:
            raise DomainError("same_region", "迁入地与当前所在县（区）相同，无需移交", field="destination_region")
        # The city's own code is not a county: a case handed to the city's bureau would move the child's
        # residence to 140400, where no case can start.
        city = served_by(self._st.served_city)
        if destination == city.city:
            raise DomainError(
                "field_invalid", f"请填写迁入地的县（区）代码，而不是{city.name}的代码", field="destination_region"
            )
