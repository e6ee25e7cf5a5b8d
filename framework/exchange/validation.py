"""Order validation: Cryptomus's order-error codes and wording, decided from the request alone.

Codes, as the Cryptomus order pages document them (protocols.md 3.3): 0 other validation
errors, 1 unknown market, 2 wrong precision, 3 amount out of range, 4 stop-loss price error,
5 order not found (cancel), 6 insufficient balance, 7 client_order_id error. Messages reuse the
documented texts where there is one ("Order quantity must be between 10 and 10000000000
size.", "Order 01JF0NE1AXA5SS3NSP2EGJ0ARS not found.", "Insufficient funds. USDT wallet balance
is 35.21617400.").

:func:`check_request` runs the checks that need only the request and the market's rules, in
this order: market (1), shape (0), precision (2), range (3), stop-loss (4). The checks that need
the venue's state (duplicate client id, balance, post-only) live with the venue, which builds
their messages here. Nothing here raises on bad input: a problem is a :class:`Rejection`.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Context, Decimal
from typing import Final, NamedTuple

from framework.exchange.orders import OrderRequest
from framework.exchange.rules import MarketRules
from framework.instruments import to_cryptomus
from framework.money import ZERO, render8, step

__all__ = [
    "CLIENT_ID",
    "INSUFFICIENT",
    "MARKET",
    "NOT_FOUND",
    "PRECISION",
    "RANGE",
    "STOP_LOSS",
    "VALIDATION",
    "Rejection",
    "check_request",
    "duplicate_client_id",
    "insufficient_funds",
    "not_found",
]

VALIDATION: Final = 0
MARKET: Final = 1
PRECISION: Final = 2
RANGE: Final = 3
STOP_LOSS: Final = 4
NOT_FOUND: Final = 5
INSUFFICIENT: Final = 6
CLIENT_ID: Final = 7

_DIRECTIONS: Final = ("buy", "sell")
_TYPES: Final = ("limit", "market")
_TIME_IN_FORCE: Final = ("gtc", "ioc", "fok")
# Quantizing in the precision check: a result that needs more digits than this is NaN (no
# trap), and NaN equals nothing, so such a number gets the exact count of its decimals.
_QUIET: Final = Context(prec=40, traps=[])
_GRID: Final = tuple(step(n) for n in range(17))
_N_GRID: Final = len(_GRID)


class Rejection(NamedTuple):
    """Why an order or cancel is refused: a Cryptomus order-error code and a message."""

    code: int
    message: str


def check_request(req: OrderRequest, rules: MarketRules | None) -> Rejection | None:
    """The first problem with ``req`` that the request and the rules alone reveal, or None."""
    if rules is None:
        return Rejection(MARKET, f"Market {to_cryptomus(req.instrument)} not found.")
    if _usual(req, rules):
        return None
    return (
        _check_shape(req)
        or _check_precision(req, rules)
        or _check_range(req, rules)
        or _check_stop_loss(req)
    )


def _usual(req: OrderRequest, rules: MarketRules) -> bool:
    """A quick yes for the usual valid requests (a market order by quantity, a plain limit
    order) in one pass; no means only that the checks below must decide. Tested to agree."""
    quantity = req.quantity
    if (
        type(quantity) is not Decimal
        or req.value is not None
        or req.stop_loss_price is not None
        or req.post_only
        or req.direction not in _DIRECTIONS
        or req.time_in_force not in _TIME_IN_FORCE
        or not quantity.is_finite()
        or quantity <= ZERO
    ):
        return False
    price = req.price
    if req.type == "market":
        if price is not None:
            return False
    elif (
        req.type != "limit"
        or type(price) is not Decimal
        or not price.is_finite()
        or price <= ZERO
        or price.quantize(_grid(rules.quote_prec), ROUND_DOWN, _QUIET) != price
    ):
        return False
    # The precision, then the range, in the checks' order (a comparison with odd rules
    # raises where theirs would).
    places = rules.base_prec  # _grid(places), written out
    grid = _GRID[places] if 0 <= places < _N_GRID else step(places)
    if quantity.quantize(grid, ROUND_DOWN, _QUIET) != quantity:
        return False
    if not rules.base_min_size <= quantity <= rules.base_max_size:
        return False
    if price is None:
        return True
    value = price * quantity
    return bool(rules.quote_min_size <= value <= rules.quote_max_size)


def _grid(places: int) -> Decimal:
    return _GRID[places] if 0 <= places < _N_GRID else step(places)


def not_found(order_id: str) -> Rejection:
    """Code 5: a cancel named an order that is unknown or already finished."""
    return Rejection(NOT_FOUND, f"Order {order_id} not found.")


def insufficient_funds(currency: str, available: Decimal) -> Rejection:
    """Code 6, in the wording Cryptomus was seen to use."""
    return Rejection(
        INSUFFICIENT, f"Insufficient funds. {currency} wallet balance is {render8(available)}."
    )


def duplicate_client_id(client_order_id: str) -> Rejection:
    """Code 7: the account already had an order with this client order id."""
    return Rejection(CLIENT_ID, f"Order with client_order_id {client_order_id} already exists.")


def _check_shape(req: OrderRequest) -> Rejection | None:
    problem = _shape_problem(req)
    return Rejection(VALIDATION, problem) if problem else None


def _shape_problem(req: OrderRequest) -> str:
    if req.direction not in _DIRECTIONS:
        return f"Direction must be buy or sell, not {req.direction!r}."
    if req.type not in _TYPES:
        return f"Order type must be limit or market, not {req.type!r}."
    if req.time_in_force not in _TIME_IN_FORCE:
        return f"Time in force must be gtc, ioc or fok, not {req.time_in_force!r}."
    for number in (req.quantity, req.price, req.value, req.stop_loss_price):
        # A positive finite Decimal passes; anything else is named below.
        if number is not None and not (
            type(number) is Decimal and number.is_finite() and number > 0
        ):
            problem = _number_problem(req)
            if problem:
                return problem
            break  # a Decimal subclass, positive and finite: it passes too
    return _limit_problem(req) if req.type == "limit" else _market_problem(req)


def _number_problem(req: OrderRequest) -> str:
    for name in ("quantity", "price", "value", "stop_loss_price"):
        number = getattr(req, name)
        if number is not None and not (isinstance(number, Decimal) and number.is_finite()):
            return f"The {name} must be a finite Decimal."
        if number is not None and number <= 0:
            return f"The {name} must be greater than 0."
    return ""


def _limit_problem(req: OrderRequest) -> str:
    if req.price is None or req.quantity is None:
        return "A limit order needs a price and a quantity."
    if req.value is not None:
        return "A limit order takes a quantity, not a value."
    if req.post_only and req.time_in_force != "gtc":
        return "A post-only order must be good till cancelled."
    return ""


def _market_problem(req: OrderRequest) -> str:
    if req.price is not None:
        return "A market order takes no price."
    if req.post_only:
        return "A market order cannot be post-only."
    if req.direction == "sell" and (req.quantity is None or req.value is not None):
        return "A market sell needs a quantity and no value."
    if req.direction == "buy" and (req.quantity is None) == (req.value is None):
        return "A market buy needs either a quantity or a value."
    return ""


def _check_precision(req: OrderRequest, rules: MarketRules) -> Rejection | None:
    # Most numbers are on their grid: quantizing them to it changes nothing. One that is not,
    # or that cannot be quantized (NaN: too many digits), gets the exact count below.
    base, quote = _grid(rules.base_prec), _grid(rules.quote_prec)
    quantity, price, value, stop = req.quantity, req.price, req.value, req.stop_loss_price
    if (
        (quantity is None or quantity.quantize(base, ROUND_DOWN, _QUIET) == quantity)
        and (price is None or price.quantize(quote, ROUND_DOWN, _QUIET) == price)
        and (value is None or value.quantize(quote, ROUND_DOWN, _QUIET) == value)
        and (stop is None or stop.quantize(quote, ROUND_DOWN, _QUIET) == stop)
    ):
        return None
    checks = (
        ("quantity", req.quantity, rules.base_prec),
        ("price", req.price, rules.quote_prec),
        ("value", req.value, rules.quote_prec),
        ("stop loss price", req.stop_loss_price, rules.quote_prec),
    )
    for name, number, places in checks:
        # The exponent bounds the decimals from above: most numbers pass on it alone, and
        # only those that might carry trailing zeros need the exact count.
        if (
            number is not None
            and -number.as_tuple().exponent > places  # type: ignore[operator]
            and _decimals(number) > places
        ):
            return Rejection(
                PRECISION,
                f"Incorrect amount or price accuracy: {_symbol(req)} allows {places} "
                f"decimals in the {name}.",
            )
    return None


def _check_range(req: OrderRequest, rules: MarketRules) -> Rejection | None:
    if req.quantity is not None and not (
        rules.base_min_size <= req.quantity <= rules.base_max_size
    ):
        return Rejection(
            RANGE,
            f"Order quantity must be between {_plain(rules.base_min_size)} and "
            f"{_plain(rules.base_max_size)} size.",
        )
    value = req.value
    if req.type == "limit" and req.price is not None and req.quantity is not None:
        value = req.price * req.quantity
    if value is not None and not (rules.quote_min_size <= value <= rules.quote_max_size):
        return Rejection(
            RANGE,
            f"Order value must be between {_plain(rules.quote_min_size)} and "
            f"{_plain(rules.quote_max_size)} {rules.quote_currency}.",
        )
    return None


def _check_stop_loss(req: OrderRequest) -> Rejection | None:
    stop = req.stop_loss_price
    if stop is None:
        return None
    if req.type != "limit":
        return Rejection(STOP_LOSS, "A stop loss price is allowed on limit orders only.")
    if req.price is None:  # the shape check has refused this already
        return None
    if req.direction == "buy" and stop <= req.price:
        return Rejection(STOP_LOSS, "The stop loss price of a buy order must be above its price.")
    if req.direction == "sell" and stop >= req.price:
        return Rejection(STOP_LOSS, "The stop loss price of a sell order must be below its price.")
    return None


def _symbol(req: OrderRequest) -> str:
    return to_cryptomus(req.instrument)


def _decimals(number: Decimal) -> int:
    """Significant decimals of a finite Decimal: 2 for ``1.250``, 0 for ``1E+3``.

    Integer arithmetic on the digits, so no context can round or overflow a huge input.
    """
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite: checked by the shape check
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + trailing)) if any(digits) else 0


def _plain(number: Decimal) -> str:
    """``Decimal("500.00000000")`` -> ``"500"``: no trailing zeros, no exponent."""
    return format(number.normalize(), "f")
