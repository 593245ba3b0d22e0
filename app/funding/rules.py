"""What a budget line allows the money recorded on it, each rule written once, in one wording,
for the single endpoints (an expenditure, its reversal, a subsidy run) and the ``expenditures``
upload alike.

Each function takes plain values (ids, categories, two-place ``Decimal`` amounts from integer
fen) and answers the problem in words, or None when there is none; the caller refuses with it
in its own way: an endpoint with its 409 or 422 (and ``code``), an upload with the row's
error."""

from decimal import Decimal

from app.core.i18n import _
from app.funding.models import CATEGORY_NAMES, Category

ZERO = Decimal("0.00")


def voucher_problem(voucher_no: str, existing_id: int | None) -> str | None:
    """A voucher number is recorded once; ``existing_id`` is the expenditure holding it."""
    if existing_id is not None:
        return _(
            "voucher {voucher_no} is already recorded (expenditure {existing}); each voucher "
            "is recorded once",
            voucher_no=voucher_no,
            existing=existing_id,
        )
    return None


def base_problem(line_id: int | None, category: Category, names_base: bool) -> str | None:
    """Only an equipment (设备采购) payment names the training base it equips."""
    if names_base and category != Category.equipment:
        return _(
            "budget line {id} is for {category}; only an equipment (设备采购) payment names "
            "the training base it equips",
            id=line_id,
            category=CATEGORY_NAMES[category],
        )
    return None


def overdraw_problem(
    line_id: int | None, amount: Decimal, spent: Decimal, asked: Decimal, earlier: Decimal = ZERO
) -> str | None:
    """A line never spends more than its ``amount``: ``spent`` is Σ of its entries (reversals
    negative), ``earlier`` what earlier rows of the same upload take from it, ``asked`` the
    money to record now."""
    left = amount - spent - earlier
    if asked <= left:
        return None
    if earlier:
        return _(
            "budget line {id} has {left} left of {amount} ({spent} spent, {earlier} taken by "
            "earlier rows of this file); {asked} is asked for",
            id=line_id,
            left=left,
            amount=amount,
            spent=spent,
            earlier=earlier,
            asked=asked,
        )
    return _(
        "budget line {id} has {left} left of {amount} ({spent} spent); {asked} is asked for",
        id=line_id,
        left=left,
        amount=amount,
        spent=spent,
        asked=asked,
    )
