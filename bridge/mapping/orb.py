"""Default Orb → Salesforce mapping: the 8 custom objects of Orb's own integration.

Every object is upserted by `Orb_Id__c`; children reference parents by it. The version of a
record is the webhook's `created_at` (the envelope's `occurred_at` for backfilled objects), so
an older event never overwrites a newer one. Copies of a customer, plan or subscription found
inside another object (`subscription.customer`, `invoice.subscription`…) are written with
version 0: they create a missing parent, never override a direct event.

`OrbCustomer__c.Account__c` is set when the customer's metadata key (default
`salesforce_account_id`) or its `external_customer_id` holds a Salesforce Account Id.
Two object types have no webhook of their own and are expected from backfill with the body
`{"<type>": {...}}`: `credit_ledger_entry` (an Orb ledger entry as the API lists it) and
`daily_line_item_revenue` (`{"id", "invoice_id", "line_item_id", "customer_id", "date",
"quantity", "amount", "currency", "price_id", "item": {"id", "name"}}`).
"""

from __future__ import annotations

from bridge.mapping.dsl import f, ref
from bridge.mapping.model import (
    Condition,
    FieldRule,
    KeyRule,
    ObjectMapping,
    ReverseField,
    ReverseMapping,
    Transform,
    VendorMapping,
    VersionRule,
)

SOURCE = "orb"
EXT = "Orb_Id__c"
DEFAULT_ACCOUNT_METADATA_KEY = "salesforce_account_id"

D = Transform.DECIMAL
DT = Transform.ISO_DATETIME
I = Transform.INT  # noqa: E741
B = Transform.BOOL
TXT = Transform.TEXT

NON_INCREMENT_ENTRIES: list[str | int | float | bool] = [
    "decrement",
    "expiration_change",
    "credit_block_expiry",
    "void",
    "void_initiated",
    "amendment",
]
VERSION = VersionRule(sources=["$event.created_at", "$envelope.occurred_at"], kind="timestamp")
KEY = KeyRule(field=EXT, source="id")


def _address(prefix: str, path: str) -> list[FieldRule]:
    return [
        f(f"{prefix}_Street__c", f"{{{path}.line1}}\n{{{path}.line2?}}", TXT),
        f(f"{prefix}_City__c", f"{path}.city"),
        f(f"{prefix}_State__c", f"{path}.state"),
        f(f"{prefix}_Postal_Code__c", f"{path}.postal_code"),
        f(f"{prefix}_Country__c", f"{path}.country"),
    ]


def customer(account_metadata_key: str | None) -> ObjectMapping:
    """Orb customer → OrbCustomer__c (linked to its Account when one is named)."""
    account_sources = ["external_customer_id"]
    if account_metadata_key:
        account_sources.insert(0, f"metadata.{account_metadata_key}")
    return ObjectMapping(
        name="customer",
        sync_object="customer",
        sobject="OrbCustomer__c",
        root="customer",
        embedded_in=["subscription.customer", "invoice.customer"],
        external_id=KEY,
        version=VERSION,
        fields=[
            f("Name", ["name", "id"]),
            f("External_Customer_Id__c", "external_customer_id"),
            f("Email__c", "email"),
            f("Additional_Emails__c", "additional_emails", Transform.LINES),
            f("Auto_Collection__c", "auto_collection", B),
            f("Balance__c", "balance", D),
            f("Currency__c", "currency"),
            f("Email_Delivery__c", "email_delivery", B),
            f("Exempt_From_Automated_Tax__c", "exempt_from_automated_tax", B),
            f("Payment_Provider__c", "payment_provider"),
            f("Payment_Provider_Id__c", "payment_provider_id"),
            f("Portal_Url__c", "portal_url"),
            f("Timezone__c", "timezone"),
            *_address("Billing", "billing_address"),
            *_address("Shipping", "shipping_address"),
            f("Tax_Id__c", "tax_id.value"),
            f("Tax_Id_Type__c", "tax_id.type"),
            f("Tax_Id_Country__c", "tax_id.country"),
            f("Parent_Orb_Customer_Id__c", "hierarchy.parent.id"),
            f("Orb_Created_At__c", "created_at", DT),
            f("Metadata__c", "metadata", TXT),
            f("Account__c", account_sources, Transform.ACCOUNT_ID),
        ],
    )


def plan() -> ObjectMapping:
    """Orb plan → OrbPlan__c."""
    return ObjectMapping(
        name="plan",
        sync_object="plan",
        sobject="OrbPlan__c",
        root="plan",
        embedded_in=["subscription.plan"],
        external_id=KEY,
        version=VERSION,
        fields=[
            f("Name", ["name", "id"]),
            f("External_Plan_Id__c", "external_plan_id"),
            f("Description__c", "description", TXT),
            f("Currency__c", "currency"),
            f("Invoicing_Currency__c", "invoicing_currency"),
            f("Status__c", "status"),
            f("Version__c", "version", I),
            f("Net_Terms__c", "net_terms", I),
            f("Minimum_Amount__c", "minimum_amount", D),
            f("Maximum_Amount__c", "maximum_amount", D),
            f("Product_Id__c", "product.id"),
            f("Product_Name__c", "product.name"),
            f("Default_Invoice_Memo__c", "default_invoice_memo", TXT),
            f("Base_Plan_Id__c", "base_plan_id"),
            f("Trial_Period__c", "trial_config.trial_period", I),
            f("Trial_Period_Unit__c", "trial_config.trial_period_unit"),
            f("Orb_Created_At__c", "created_at", DT),
            f("Metadata__c", "metadata", TXT),
        ],
    )


def subscription() -> ObjectMapping:
    """Orb subscription → OrbSubscription__c (→ customer, plan)."""
    return ObjectMapping(
        name="subscription",
        sync_object="subscription",
        sobject="OrbSubscription__c",
        root="subscription",
        embedded_in=["invoice.subscription"],
        external_id=KEY,
        version=VERSION,
        fields=[
            f("Name", ["name", "id"]),
            f("Status__c", "status"),
            f("Start_Date__c", "start_date", DT),
            f("End_Date__c", "end_date", DT),
            f("Current_Billing_Period_Start_Date__c", "current_billing_period_start_date", DT),
            f("Current_Billing_Period_End_Date__c", "current_billing_period_end_date", DT),
            f("Billing_Cycle_Day__c", "billing_cycle_day", I),
            f("Net_Terms__c", "net_terms", I),
            f("Auto_Collection__c", "auto_collection", B),
            f("Default_Invoice_Memo__c", "default_invoice_memo", TXT),
            f("Trial_End_Date__c", "trial_info.end_date", DT),
            f("Active_Plan_Phase_Order__c", "active_plan_phase_order", I),
            f("Redeemed_Coupon_Id__c", "redeemed_coupon.coupon_id"),
            f("Plan_Version__c", "plan.version", I),
            f("Orb_Created_At__c", "created_at", DT),
            f("Metadata__c", "metadata", TXT),
        ],
        parents=[
            ref("Orb_Customer__c", "OrbCustomer__c", EXT, "customer.id"),
            ref("Orb_Plan__c", "OrbPlan__c", EXT, "plan.id"),
        ],
    )


def subscription_version() -> ObjectMapping:
    """Each price interval of a subscription → OrbSubscriptionVersion__c (the plan's price
    for this customer over a span of time)."""
    return ObjectMapping(
        name="subscription_version",
        sync_object="subscription_version",
        sobject="OrbSubscriptionVersion__c",
        root="subscription",
        each="price_intervals",
        external_id=KEY,
        version=VERSION,
        fields=[
            f("Name", ["price.name", "id"]),
            f("Start_Date__c", "start_date", DT),
            f("End_Date__c", "end_date", DT),
            f("Current_Billing_Period_Start_Date__c", "current_billing_period_start_date", DT),
            f("Current_Billing_Period_End_Date__c", "current_billing_period_end_date", DT),
            f("Billing_Cycle_Day__c", "billing_cycle_day", I),
            f("Price_Id__c", "price.id"),
            f("Price_Name__c", "price.name"),
            f("Price_Model_Type__c", "price.model_type"),
            f("Cadence__c", "price.cadence"),
            f("Item_Id__c", "price.item.id"),
            f("Item_Name__c", "price.item.name"),
            f("Currency__c", "price.currency"),
            f("Unit_Amount__c", "price.unit_config.unit_amount", D),
            f("Fixed_Price_Quantity__c", "price.fixed_price_quantity", D),
            f("Filter__c", "filter", TXT),
            f("Plan_Version__c", "$root.plan.version", I),
        ],
        parents=[
            ref("Orb_Subscription__c", "OrbSubscription__c", EXT, "$root.id"),
            ref("Orb_Customer__c", "OrbCustomer__c", EXT, "$root.customer.id"),
            ref("Orb_Plan__c", "OrbPlan__c", EXT, "$root.plan.id"),
        ],
    )


def invoice() -> ObjectMapping:
    """Orb invoice → OrbInvoice__c (→ customer, subscription)."""
    return ObjectMapping(
        name="invoice",
        sync_object="invoice",
        sobject="OrbInvoice__c",
        root="invoice",
        external_id=KEY,
        version=VERSION,
        fields=[
            f("Name", ["invoice_number", "id"]),
            f("Invoice_Number__c", "invoice_number"),
            f("Status__c", "status"),
            f("Currency__c", "currency"),
            f("Amount_Due__c", "amount_due", D),
            f("Subtotal__c", "subtotal", D),
            f("Total__c", "total", D),
            f("Invoice_Date__c", "invoice_date", DT),
            f("Due_Date__c", "due_date", DT),
            f("Issued_At__c", "issued_at", DT),
            f("Paid_At__c", "paid_at", DT),
            f("Voided_At__c", "voided_at", DT),
            f("Payment_Failed_At__c", "payment_failed_at", DT),
            f("Invoice_Source__c", "invoice_source"),
            f("Hosted_Invoice_Url__c", "hosted_invoice_url"),
            f("Invoice_Pdf__c", "invoice_pdf"),
            f("Memo__c", "memo", TXT),
            f("Minimum_Amount__c", "minimum_amount", D),
            f("Maximum_Amount__c", "maximum_amount", D),
            f("Will_Auto_Issue__c", "will_auto_issue", B),
            f("Auto_Collection_Enabled__c", "auto_collection.enabled", B),
            f("Next_Attempt_At__c", "auto_collection.next_attempt_at", DT),
            f("Orb_Created_At__c", "created_at", DT),
            f("Metadata__c", "metadata", TXT),
        ],
        parents=[
            ref("Orb_Customer__c", "OrbCustomer__c", EXT, "customer.id"),
            ref("Orb_Subscription__c", "OrbSubscription__c", EXT, "subscription.id"),
        ],
    )


def invoice_line_item() -> ObjectMapping:
    """Each line item of an invoice → OrbInvoiceLineItemBilling__c (→ invoice)."""
    return ObjectMapping(
        name="invoice_line_item",
        sync_object="invoice_line_item",
        sobject="OrbInvoiceLineItemBilling__c",
        root="invoice",
        each="line_items",
        external_id=KEY,
        version=VERSION,
        fields=[
            f("Name", ["name", "id"]),
            f("Amount__c", "amount", D),
            f("Subtotal__c", "subtotal", D),
            f("Adjusted_Subtotal__c", "adjusted_subtotal", D),
            f("Credits_Applied__c", "credits_applied", D),
            f("Partially_Invoiced_Amount__c", "partially_invoiced_amount", D),
            f("Quantity__c", "quantity", D),
            f("Start_Date__c", "start_date", DT),
            f("End_Date__c", "end_date", DT),
            f("Price_Id__c", "price.id"),
            f("Price_Name__c", "price.name"),
            f("Item_Id__c", "price.item.id"),
            f("Item_Name__c", "price.item.name"),
            f("Grouping__c", "grouping"),
            f("Filter__c", "filter", TXT),
            f("Currency__c", "$root.currency"),
        ],
        parents=[ref("Orb_Invoice__c", "OrbInvoice__c", EXT, "$root.id")],
    )


def daily_line_item_revenue() -> ObjectMapping:
    """A day of a line item's revenue (from backfill/data export) → OrbDailyLineItemRevenue__c."""
    return ObjectMapping(
        name="daily_line_item_revenue",
        sync_object="daily_line_item_revenue",
        sobject="OrbDailyLineItemRevenue__c",
        root="daily_line_item_revenue",
        external_id=KeyRule(field=EXT, source=["id", "{line_item_id}_{date}"]),
        version=VERSION,
        fields=[
            f("Name", ["{line_item_id} {date}", "id"]),
            f("Date__c", "date", Transform.ISO_DATE),
            f("Quantity__c", "quantity", D),
            f("Amount__c", "amount", D),
            f("Currency__c", "currency"),
            f("Price_Id__c", "price_id"),
            f("Item_Id__c", "item.id"),
            f("Item_Name__c", "item.name"),
        ],
        parents=[
            ref("Orb_Customer__c", "OrbCustomer__c", EXT, "customer_id"),
            ref("Orb_Invoice__c", "OrbInvoice__c", EXT, "invoice_id"),
            ref("Orb_Invoice_Line_Item_Billing__c", "OrbInvoiceLineItemBilling__c", EXT, "line_item_id"),
        ],
    )


LEDGER_ENTRY_FIELDS = [
    f("Entry_Type__c", "entry_type"),
    f("Entry_Status__c", "entry_status"),
    f("Amount__c", "amount", D),
    f("Starting_Balance__c", "starting_balance", D),
    f("Ending_Balance__c", "ending_balance", D),
    f("Currency__c", "currency"),
    f("Credit_Block_Id__c", "credit_block.id"),
    f("Credit_Block_Expiry_Date__c", "credit_block.expiry_date", DT),
    f("Per_Unit_Cost_Basis__c", "credit_block.per_unit_cost_basis", D),
    f("Description__c", "description", TXT),
    f("Ledger_Sequence_Number__c", "ledger_sequence_number", I),
    f("Entry_Created_At__c", "created_at", DT),
]


def credit_ledger_entry() -> ObjectMapping:
    """A credit ledger entry (from backfill: Orb's ledger list) → OrbCommittedLedgerEntry__c.
    Increments are keyed by the credit block they created, as the webhook gives them."""
    return ObjectMapping(
        name="credit_ledger_entry",
        sync_object="credit_ledger_entry",
        sobject="OrbCommittedLedgerEntry__c",
        root="credit_ledger_entry",
        where=Condition(path="entry_type", one_of=NON_INCREMENT_ENTRIES),
        external_id=KEY,
        version=VERSION,
        fields=[f("Name", ["{entry_type} {ledger_sequence_number?}", "id"]), *LEDGER_ENTRY_FIELDS],
        parents=[ref("Orb_Customer__c", "OrbCustomer__c", EXT, "customer.id")],
    )


def credit_ledger_increment() -> ObjectMapping:
    """An increment entry from backfill, keyed like `credit_block_increment` (by its block)."""
    return ObjectMapping(
        name="credit_ledger_increment",
        sync_object="credit_ledger_entry",
        sobject="OrbCommittedLedgerEntry__c",
        root="credit_ledger_entry",
        where=Condition(path="entry_type", equals="increment"),
        external_id=KeyRule(field=EXT, source="credit_block.id"),
        version=VERSION,
        fields=[f("Name", "increment {credit_block.id}"), *LEDGER_ENTRY_FIELDS],
        parents=[ref("Orb_Customer__c", "OrbCustomer__c", EXT, "customer.id")],
    )


def credit_block_increment() -> ObjectMapping:
    """`customer.credit_ledger_incremented` → the increment entry, keyed by the credit block it
    created (the webhook carries the block, not the entry id; backfill keys increments alike)."""
    return ObjectMapping(
        name="credit_block_increment",
        sync_object="credit_ledger_entry",
        sobject="OrbCommittedLedgerEntry__c",
        root="properties.block",
        event_types=["customer.credit_ledger_incremented"],
        external_id=KEY,
        version=VERSION,
        fields=[
            f("Name", "increment {id}"),
            f("Entry_Type__c", value="increment"),
            f("Entry_Status__c", value="committed"),
            f("Amount__c", ["maximum_initial_balance", "balance"], D),
            f("Currency__c", "$event.properties.pricing_unit.name"),
            f("Credit_Block_Id__c", "id"),
            f("Credit_Block_Expiry_Date__c", "expiry_date", DT),
            f("Per_Unit_Cost_Basis__c", "per_unit_cost_basis", D),
            f("Entry_Created_At__c", "$event.created_at", DT),
        ],
        parents=[ref("Orb_Customer__c", "OrbCustomer__c", EXT, "$event.customer.id")],
    )


def reverse() -> list[ReverseMapping]:
    """Account → Orb customer, addressed by `external_customer_id` = the Account Id."""
    return [
        ReverseMapping(
            sobject="Account",
            billing_object="customer",
            key_field="Id",
            billing_key="external_customer_id",
            fields=[
                ReverseField(salesforce="Name", billing="name"),
                ReverseField(salesforce="BillingStreet", billing="billing_address.line1"),
                ReverseField(salesforce="BillingCity", billing="billing_address.city"),
                ReverseField(salesforce="BillingState", billing="billing_address.state"),
                ReverseField(salesforce="BillingPostalCode", billing="billing_address.postal_code"),
                ReverseField(salesforce="BillingCountry", billing="billing_address.country"),
            ],
        )
    ]


def default_mapping(account_metadata_key: str | None = DEFAULT_ACCOUNT_METADATA_KEY) -> VendorMapping:
    """The default Orb mapping; `account_metadata_key` names the customer metadata key that
    holds a Salesforce Account Id (None: only `external_customer_id`)."""
    return VendorMapping(
        source=SOURCE,
        objects=[
            customer(account_metadata_key),
            plan(),
            subscription(),
            subscription_version(),
            invoice(),
            invoice_line_item(),
            daily_line_item_revenue(),
            credit_ledger_entry(),
            credit_ledger_increment(),
            credit_block_increment(),
        ],
        reverse=reverse(),
        options={"account_metadata_key": account_metadata_key or ""},
    )
