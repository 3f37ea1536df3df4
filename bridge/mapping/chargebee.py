"""Default Chargebee → Salesforce mapping: the field mapping of Chargebee's own package.

Custom objects are upserted by `CB_Id__c` = `<site>_<chargebee id>` (child rows:
`<site>_<parent id>_<row id>`), as the package does for invoices and coupons. Standard objects
get an external id the bridge upserts by: Account and Contact `Chargebee_Id__c` (the customer
id, the package's field), Product2 / PricebookEntry / Opportunity / OpportunityLineItem /
Pricebook2 `CB_Id__c`. The version of a record is its `resource_version`.

Chargebee leaves unset attributes out of its JSON, so an absent key clears the field
(`missing_is_null`). Fields Salesforce will not update (PricebookEntry.Product2Id,
OpportunityLineItem.OpportunityId…) and the ones a salesperson owns (Opportunity stage and
close date) are `map_only`: written when the record is created.
"""

from __future__ import annotations

from bridge.mapping.dsl import f, ref
from bridge.mapping.model import (
    Condition,
    Conflict,
    FieldRule,
    KeyRule,
    ObjectMapping,
    ParentRef,
    ReverseField,
    ReverseMapping,
    Transform,
    VendorMapping,
    VersionRule,
)

SOURCE = "chargebee"
EXT = "CB_Id__c"
DEFAULT_PRICE_BOOK = "Chargebee"

C = Transform.CENTS
D = Transform.DECIMAL
I = Transform.INT  # noqa: E741
B = Transform.BOOL
DT = Transform.UNIX_DATETIME
DAY = Transform.UNIX_DATE
TXT = Transform.TEXT
ONCE = Conflict.MAP_ONLY

SITE = "{$config.site}"
VERSION = VersionRule(sources=["$root.resource_version"], kind="int")
SKIP_DELETES = ["*_deleted"]


def _cb_id(path: str = "id") -> str:
    return f"{SITE}_{{{path}}}"


def _key(*paths: str) -> KeyRule:
    return KeyRule(field=EXT, source=SITE + "".join(f"_{{{p}}}" for p in paths))


def _site_ref(field: str = "CB_Site__c") -> ParentRef:
    return ref(field, "CB_Site__c", EXT, SITE)


def _account_ref(path: str = "customer_id", field: str = "Account__c") -> ParentRef:
    rel = "Account" if field == "AccountId" else None
    return ref(field, "Account", "Chargebee_Id__c", path, relationship=rel)


def _obj(**kw: object) -> ObjectMapping:
    kw.setdefault("version", VERSION)
    kw.setdefault("skip_event_types", SKIP_DELETES)
    return ObjectMapping.model_validate(kw)


def cb_site() -> ObjectMapping:
    """The Chargebee site → CB_Site__c (with every event: it is every record's parent)."""
    return _obj(
        name="site",
        sync_object="site",
        sobject="CB_Site__c",
        root="content",
        external_id=KeyRule(field=EXT, source=SITE),
        version=VersionRule(kind="constant", value=0),
        companion=True,
        fields=[
            f("Name", SITE),
            f("Domain__c", ["$config.domain", SITE + ".chargebee.com"]),
        ],
    )


def cb_price_book() -> ObjectMapping:
    """The one price book the package keeps for every site (Pricebook2)."""
    return _obj(
        name="price_book",
        sync_object="site",
        sobject="Pricebook2",
        root="content.item_price",
        embedded_in=["content.subscription"],
        external_id=KeyRule(field=EXT, source="$config.price_book"),
        version=VersionRule(kind="constant", value=0),
        companion=True,
        fields=[
            f("Name", "$config.price_book"),
            f("IsActive", value=True),
        ],
        parents=[_site_ref()],
    )


def _customer_common() -> list[FieldRule]:
    return [
        f("Auto_Collection__c", "auto_collection"),
        f("Net_Term_Days__c", "net_term_days", I),
        f("Payment_Method_Status__c", "payment_method.status"),
        f("Payment_Method_Type__c", "payment_method.type"),
    ]


def account() -> ObjectMapping:
    """Customer → Account (the package's default field mapping)."""
    return _obj(
        name="account",
        synced_at_field="Last_Synced_At__c",
        sync_object="customer",
        sobject="Account",
        root="content.customer",
        external_id=KeyRule(field="Chargebee_Id__c", source="id"),
        fields=[
            f("Name", ["company", "{first_name?} {last_name?}", "email", "id"]),
            f("Phone", "phone"),
            f(
                "BillingStreet",
                "{billing_address.line1}\n{billing_address.line2?}\n{billing_address.line3?}",
                TXT,
            ),
            f("BillingCity", "billing_address.city"),
            f("BillingPostalCode", "billing_address.zip"),
            f("BillingState", "billing_address.state"),
            f("BillingCountry", "billing_address.country"),
            f("Chargebee_Email__c", "email"),
            f("Chargebee_First_Name__c", "first_name"),
            f("Chargebee_Last_Name__c", "last_name"),
            f("Is_Synced__c", value=True),
            f("Locale__c", "locale"),
            f("Taxability__c", "taxability"),
            f("VAT_Number__c", "vat_number"),
            f("Business_Entity__c", "business_entity_id"),
            *_customer_common(),
        ],
        parents=[_site_ref("Chargebee_Site__c")],
    )


def contact() -> ObjectMapping:
    """Customer → the Contact the package keeps in sync with it (Sync_with_Chargebee__c)."""
    return _obj(
        name="contact",
        sync_object="customer",
        sobject="Contact",
        root="content.customer",
        external_id=KeyRule(field="Chargebee_Id__c", source="id"),
        fields=[
            f("Email", "email"),
            f("FirstName", "first_name"),
            f("LastName", ["last_name", "company", "email", "id"]),
            f("Phone", "phone"),
            f("Preferred_Currency__c", "preferred_currency_code"),
            f("Chargebee_Modified_Time__c", "updated_at", DT),
            f("Sync_with_Chargebee__c", value=True, conflict=ONCE),
            *_customer_common(),
        ],
        parents=[_account_ref("id", "AccountId")],
    )


def product() -> ObjectMapping:
    """Item (plan / addon / charge) → Product2."""
    return _obj(
        name="product",
        sync_object="item",
        sobject="Product2",
        root="content.item",
        external_id=_key("id"),
        fields=[
            f("Name", ["name", "id"]),
            f("Description", "description", TXT),
            f("ProductCode", "id"),
            f("CB_Item_Family__c", "item_family_id"),
            f("Metered__c", "metered", B),
            f("Product_Type__c", "type"),
        ],
    )


def item_price() -> ObjectMapping:
    """Item price → CB_Item_Price__c."""
    return _obj(
        name="item_price",
        sync_object="item_price",
        sobject="CB_Item_Price__c",
        root="content.item_price",
        external_id=_key("id"),
        fields=[
            f("Name", ["name", "id"]),
            f("Trial_Period_Unit__c", "trial_period_unit"),
            f("Trial_Period__c", "trial_period", I),
            f("Status__c", "status"),
            f("Resource_version__c", "resource_version", I),
            f("Pricing_Model__c", "pricing_model"),
            f("Price__c", "price", C),
            f("Period_Unit__c", "period_unit"),
            f("Period__c", "period", I),
            f("Free_Quantity__c", "free_quantity", I),
            f("External_Id__c", "id"),
            f("Currency__c", "currency_code"),
            f("Billing_Cycles__c", "billing_cycles", I),
        ],
        parents=[
            ref("Product__c", "Product2", EXT, _cb_id("item_id")),
            ref("Price_Book__c", "Pricebook2", EXT, "$config.price_book"),
        ],
    )


def pricing_tier() -> ObjectMapping:
    """Each tier of an item price → CB_Pricing_Tier__c."""
    return _obj(
        name="pricing_tier",
        sync_object="item_price",
        sobject="CB_Pricing_Tier__c",
        root="content.item_price",
        each="tiers",
        external_id=_key("$root.id", "$index"),
        fields=[
            f("Name", "{$root.id} {starting_unit}"),
            f("Starting_Unit__c", "starting_unit", I),
            f("Ending_Unit__c", "ending_unit", I),
            f("Price__c", "price", C),
            f("Pricing_Type__c", "pricing_type"),
            f("Package_Size__c", "package_size", I),
        ],
        parents=[ref("CB_Item_Price__c", "CB_Item_Price__c", EXT, _cb_id("$root.id"))],
    )


def pricebook_entry() -> ObjectMapping:
    """Item price → PricebookEntry in the Chargebee price book."""
    return _obj(
        name="pricebook_entry",
        sync_object="item_price",
        sobject="PricebookEntry",
        root="content.item_price",
        external_id=_key("id"),
        fields=[
            f("UnitPrice", "price", C, default=0),
            f("IsActive", value=True),
        ],
        parents=[
            ref(
                "Pricebook2Id",
                "Pricebook2",
                EXT,
                "$config.price_book",
                relationship="Pricebook2",
                conflict=ONCE,
            ),
            ref("Product2Id", "Product2", EXT, _cb_id("item_id"), relationship="Product2", conflict=ONCE),
        ],
    )


def quote() -> ObjectMapping:
    """Quote → CB_Quote__c."""
    return _obj(
        name="quote",
        sync_object="quote",
        sobject="CB_Quote__c",
        root="content.quote",
        external_id=_key("id"),
        fields=[
            f("Name", ["name", "id"]),
            f("Status__c", "status"),
            f("Operation_Type__c", "operation_type"),
            f("Price_Type__c", "price_type"),
            f("Valid_Till__c", "valid_till", DT),
            f("Quote_Date__c", "date", DT),
            f("Sub_Total__c", "sub_total", C),
            f("Total__c", "total", C),
            f("Amount_Due__c", "amount_due", C),
            f("Amount_Paid__c", "amount_paid", C),
            f("Credits_Applied__c", "credits_applied", C),
            f("Currency__c", "currency_code"),
            f("PO_Number__c", "po_number"),
            f("VAT_Number__c", "vat_number"),
            f("Customer_Id__c", "customer_id"),
            f("Subscription_Id__c", "subscription_id"),
            f("Invoice_Id__c", "invoice_id"),
            f("Resource_Version__c", "resource_version", I),
            f("Chargebee_Modified_Time__c", "updated_at", DT),
        ],
        parents=[_account_ref(), _site_ref()],
    )


def quote_line_item() -> ObjectMapping:
    """Each line of a quote → CB_Quote_Line_Item__c."""
    return _obj(
        name="quote_line_item",
        sync_object="quote",
        sobject="CB_Quote_Line_Item__c",
        root="content.quote",
        each="line_items",
        external_id=_key("$root.id", "id"),
        fields=[
            f("Name", ["description", "entity_id", "id"]),
            f("Entity_Type__c", "entity_type"),
            f("Entity_Id__c", "entity_id"),
            f("Description__c", ["entity_description", "description"], TXT),
            f("Quantity__c", "quantity", D),
            f("Unit_Amount__c", "unit_amount", C),
            f("Amount__c", "amount", C),
            f("Discount_Amount__c", "discount_amount", C),
            f("Tax_Amount__c", "tax_amount", C),
            f("Start_Date__c", "date_from", DT),
            f("End_Date__c", "date_to", DT),
        ],
        parents=[ref("CB_Quote__c", "CB_Quote__c", EXT, _cb_id("$root.id"))],
    )


def opportunity() -> ObjectMapping:
    """Subscription → Opportunity (won), named after the customer's company."""
    customer = "$event.content.customer"
    return _obj(
        name="opportunity",
        sync_object="subscription",
        sobject="Opportunity",
        root="content.subscription",
        external_id=_key("id"),
        fields=[
            f(
                "Name",
                [f"{customer}.company", f"{{{customer}.first_name?}} {{{customer}.last_name?}}", "id"],
                conflict=ONCE,
            ),
            f("StageName", value="Closed Won", conflict=ONCE),
            f("CloseDate", ["activated_at", "started_at", "created_at"], DAY, conflict=ONCE),
            f("Subscription_Id__c", "id"),
            f("Contract_term_Id__c", "contract_term.id"),
            f("Business_Entity__c", "business_entity_id"),
        ],
        parents=[
            _account_ref("customer_id", "AccountId"),
            ref(
                "Pricebook2Id",
                "Pricebook2",
                EXT,
                "$config.price_book",
                relationship="Pricebook2",
                conflict=ONCE,
            ),
        ],
    )


def opportunity_product() -> ObjectMapping:
    """Each subscription item → OpportunityLineItem (Opportunity Product)."""
    return _obj(
        name="opportunity_product",
        sync_object="subscription",
        sobject="OpportunityLineItem",
        root="content.subscription",
        each="subscription_items",
        external_id=_key("$root.id", "item_price_id"),
        fields=[
            f("Quantity", "quantity", D, default=1),
            f("UnitPrice", "unit_price", C, default=0),
            f("Service_Period_days__c", "service_period_days", I),
            f("Billing_Cycles__c", "billing_cycles", I),
            f("Apply_Charges__c", "charge_on_option"),
            f("Addon_Event__c", "charge_on_event"),
        ],
        parents=[
            ref(
                "OpportunityId",
                "Opportunity",
                EXT,
                _cb_id("$root.id"),
                relationship="Opportunity",
                conflict=ONCE,
            ),
            ref(
                "PricebookEntryId",
                "PricebookEntry",
                EXT,
                _cb_id("item_price_id"),
                relationship="PricebookEntry",
                conflict=ONCE,
            ),
            ref("CB_Item_Price__c", "CB_Item_Price__c", EXT, _cb_id("item_price_id")),
        ],
    )


PLAN_ITEM = "subscription_items[item_type=plan]"


def cb_subscription() -> ObjectMapping:
    """Subscription → CB_Subscription__c (the package's full field list)."""
    ship = "shipping_address"
    return _obj(
        name="cb_subscription",
        sync_object="subscription",
        sobject="CB_Subscription__c",
        root="content.subscription",
        external_id=_key("id"),
        fields=[
            f("Name", "id"),
            f("Action_at_term_end__c", "contract_term.action_at_term_end"),
            f("Address_Line_1__c", f"{ship}.line1"),
            f("Address_Line_2__c", f"{ship}.line2"),
            f("Address_Line_3__c", f"{ship}.line3"),
            f("Business_Entity__c", "business_entity_id"),
            f("CB_Customer_Id__c", "customer_id"),
            f("CB_Plan_Id__c", f"{PLAN_ITEM}.item_price_id"),
            f("CB_Subscription_Id__c", "id"),
            f("Chargebee_Modified_Time__c", "updated_at", DT),
            f("City__c", f"{ship}.city"),
            f("Company__c", f"{ship}.company"),
            f("Country__c", f"{ship}.country"),
            f("Currency__c", "currency_code"),
            f("Current_Term_End__c", "current_term_end", DT),
            f("Current_Term_Start__c", "current_term_start", DT),
            f("Due_Invoices_Count__c", "due_invoices_count", I),
            f("Due_Since__c", "due_since", DT),
            f("Email__c", f"{ship}.email"),
            f("First_Name__c", f"{ship}.first_name"),
            f("Last_Name__c", f"{ship}.last_name"),
            f("MRR__c", "mrr", C),
            f("Next_billing_at__c", "next_billing_at", DT),
            f("Phone__c", f"{ship}.phone"),
            f("Plan_Amount__c", f"{PLAN_ITEM}.amount", C),
            f("Plan_Quantity__c", f"{PLAN_ITEM}.quantity", D),
            f("Plan_Unit_Price__c", f"{PLAN_ITEM}.unit_price", C),
            f("PO_Number__c", "po_number"),
            f("Reason_for_cancellation__c", "cancel_reason"),
            f("Cancellation_Reason_Code__c", "cancel_reason_code"),
            f("Remaining_Billing_Cycles__c", "remaining_billing_cycles", I),
            f("Resource_Version__c", "resource_version", I),
            f("State_County_Province__c", f"{ship}.state"),
            f("Subscription_Activated_At__c", "activated_at", DT),
            f("Subscription_Cancelled_At__c", "cancelled_at", DT),
            f("Subscription_Created_At__c", "created_at", DT),
            f("Subscription_Id__c", "id"),
            f("Subscription_Started_At__c", "started_at", DT),
            f("Subscription_status__c", "status"),
            f("Total_Dues__c", "total_dues", C),
            f("Trial_End__c", "trial_end", DT),
            f("Trial_Start__c", "trial_start", DT),
            f("Zip_Postal_Code__c", f"{ship}.zip"),
        ],
        parents=[
            _account_ref(),
            _site_ref(),
            ref("Contact__c", "Contact", "Chargebee_Id__c", "customer_id"),
            ref("Opportunity__c", "Opportunity", EXT, _cb_id()),
        ],
    )


def subscription_addon() -> ObjectMapping:
    """Each addon item of a subscription → Subscription_Addon__c."""
    return _obj(
        name="subscription_addon",
        sync_object="subscription",
        sobject="Subscription_Addon__c",
        root="content.subscription",
        each="subscription_items",
        where=Condition(path="item_type", equals="addon"),
        external_id=_key("$root.id", "item_price_id"),
        fields=[
            f("Name", "item_price_id"),
            f("Item_Price_Id__c", "item_price_id"),
            f("Quantity__c", "quantity", D),
            f("Unit_Price__c", "unit_price", C),
            f("Amount__c", "amount", C),
            f("Billing_Cycles__c", "billing_cycles", I),
            f("Trial_End__c", "trial_end", DT),
        ],
        parents=[ref("CB_Subscription__c", "CB_Subscription__c", EXT, _cb_id("$root.id"))],
    )


def coupon_line_item() -> ObjectMapping:
    """Each coupon applied to a subscription → Coupon_Line_Items__c."""
    return _obj(
        name="coupon_line_item",
        sync_object="subscription",
        sobject="Coupon_Line_Items__c",
        root="content.subscription",
        each="coupons",
        external_id=_key("$root.id", "coupon_id"),
        fields=[
            f("Name", "coupon_id"),
            f("Coupon_Id__c", "coupon_id"),
            f("Coupon_Code__c", "coupon_code"),
            f("Apply_Till__c", "apply_till", DT),
            f("Applied_Count__c", "applied_count", I),
        ],
        parents=[ref("CB_Subscription__c", "CB_Subscription__c", EXT, _cb_id("$root.id"))],
    )


def invoice() -> ObjectMapping:
    """Invoice → CB_Invoice__c."""
    return _obj(
        name="invoice",
        sync_object="invoice",
        sobject="CB_Invoice__c",
        root="content.invoice",
        external_id=_key("id"),
        fields=[
            f("Name", "id"),
            f("Amount__c", "total", C),
            f("Business_Entity__c", "business_entity_id"),
            f("CB_Customer_CB_Id__c", _cb_id("customer_id")),
            f("CB_Invoice_Id__c", "id"),
            f("CB_Subscription_CB_Id__c", _cb_id("subscription_id")),
            f("Chargebee_Modified_Time__c", "updated_at", DT),
            f("Due_Amount__c", "amount_due", C),
            f("Due_Date__c", "due_date", DAY),
            f("Invoice_Date__c", "date", DAY),
            f("Invoice_ID__c", "id"),
            f("Next_Retry__c", "next_retry_at", DT),
            f("Paid_On__c", "paid_at", DT),
            f("PO_Number__c", "po_number"),
            f("Price_Type__c", "price_type"),
            f("Recurring__c", "recurring", B),
            f("Resource_Version__c", "resource_version", I),
            f("Status__c", "status"),
            f("SubTotal__c", "sub_total", C),
            f("Tax__c", "tax", C),
            f("Vat_Number__c", "vat_number"),
        ],
        parents=[
            _account_ref(),
            _site_ref(),
            ref("CB_Subscription__c", "CB_Subscription__c", EXT, _cb_id("subscription_id")),
        ],
    )


ITEM_PRICE_ENTITIES: list[str | int | float | bool] = [
    "plan_item_price",
    "addon_item_price",
    "charge_item_price",
]


def invoice_line_item() -> ObjectMapping:
    """Each invoice line → CB_Invoice_Line_Item__c."""
    return _obj(
        name="invoice_line_item",
        sync_object="invoice",
        sobject="CB_Invoice_Line_Item__c",
        root="content.invoice",
        each="line_items",
        external_id=_key("$root.id", "id"),
        fields=[
            f("Name", ["description", "entity_id", "id"]),
            f("Amount__c", "amount", C),
            f("CB_Invoice_CB_Id__c", _cb_id("$root.id")),
            f("CB_Invoice_Line_Item_CB_Id__c", SITE + "_{$root.id}_{id}"),
            f("Discount_Amount__c", "discount_amount", C),
            f("End_Date__c", "date_to", DAY),
            f("Price__c", "unit_amount", C),
            f("Quantity__c", "quantity", D),
            f("Reason_for_tax_exemption__c", "tax_exempt_reason"),
            f("Start_Date__c", "date_from", DAY),
            f("Tax_Amount__c", "tax_amount", C),
            f("Total_amount__c", "amount", C),
        ],
        parents=[
            ref("CB_Invoice__c", "CB_Invoice__c", EXT, _cb_id("$root.id")),
            ref(
                "CB_Item_Price__c",
                "CB_Item_Price__c",
                EXT,
                _cb_id("entity_id"),
                when=Condition(path="entity_type", one_of=ITEM_PRICE_ENTITIES),
            ),
        ],
    )


def coupon() -> ObjectMapping:
    """Coupon → CB_Coupon__c."""
    return _obj(
        name="coupon",
        sync_object="coupon",
        sobject="CB_Coupon__c",
        root="content.coupon",
        external_id=_key("id"),
        fields=[
            f("Name", ["name", "id"]),
            f("Addon_Id__c", "addon_ids", Transform.LINES),
            f("Apply_On__c", "apply_on"),
            f("CB_Coupon_Id__c", "id"),
            f("Charge_Constraint__c", "item_constraints[item_type=charge].constraint"),
            f("Chargebee_Modified_Time__c", "updated_at", DT),
            f("Coupon_Created_At__c", "created_at", DT),
            f("Coupon_Id__c", "id"),
            f("Coupon_Name__c", "name"),
            f("Discount_Amount__c", "discount_amount", C),
            f("Discount_Percentage__c", "discount_percentage", D),
            f("Discount_Type__c", "discount_type"),
            f("Duration_Month__c", "duration_month", I),
            f("Duration_Type__c", "duration_type"),
            f("Invoice_Name__c", "invoice_name"),
            f("Max_Redemptions__c", "max_redemptions", I),
            f("Plan_Constraint__c", ["item_constraints[item_type=plan].constraint", "plan_constraint"]),
            f("Plan_Id__c", "plan_ids", Transform.LINES),
            f("Redemptions__c", "redemptions", I),
            f("Resource_Version__c", "resource_version", I),
            f("Status__c", "status"),
            f("Valid_Till__c", "valid_till", DT),
        ],
        parents=[_site_ref()],
    )


def credit_note() -> ObjectMapping:
    """Credit note → CB_Credit_Note__c (detail of the invoice it refers to)."""
    return _obj(
        name="credit_note",
        sync_object="credit_note",
        sobject="CB_Credit_Note__c",
        root="content.credit_note",
        external_id=_key("id"),
        fields=[
            f("Name", "id"),
            f("Allocated_Amount__c", "amount_allocated", C),
            f("Available_Amount__c", "amount_available", C),
            f("Business_Entity__c", "business_entity_id"),
            f("CB_Invoice_Id__c", "reference_invoice_id"),
            f("CreditNote_CB_Id__c", _cb_id()),
            f("Customer_CB_Id__c", _cb_id("customer_id")),
            f("Issued_Date__c", "date", DAY),
            f("Price_Type__c", "price_type"),
            f("Reason__c", ["create_reason_code", "reason_code"]),
            f("Refunded_Amount__c", "amount_refunded", C),
            f("Refunded_At__c", "refunded_at", DT),
            f("Resource_Version__c", "resource_version", I),
            f("Round_Off_Amount__c", "round_off_amount", C),
            f("Status__c", "status"),
            f("Sub_Total__c", "sub_total", C),
            f("Total__c", "total", C),
            f("Type__c", "type"),
            f("Voided_At__c", "voided_at", DT),
        ],
        parents=[
            _account_ref(),
            _site_ref(),
            ref("Contact__c", "Contact", "Chargebee_Id__c", "customer_id"),
            ref("CB_Invoice__c", "CB_Invoice__c", EXT, _cb_id("reference_invoice_id")),
        ],
    )


def credit_note_allocation() -> ObjectMapping:
    """Each allocation of a credit note to an invoice → CB_Credit_Note_Allocation__c."""
    return _obj(
        name="credit_note_allocation",
        sync_object="credit_note",
        sobject="CB_Credit_Note_Allocation__c",
        root="content.credit_note",
        each="allocations",
        external_id=_key("$root.id", "invoice_id"),
        fields=[
            f("Name", "{$root.id} → {invoice_id}"),
            f("Allocated_Amount__c", "allocated_amount", C),
            f("Allocated_At__c", "allocated_at", DT),
            f("Invoice_Id__c", "invoice_id"),
            f("Invoice_Date__c", "invoice_date", DAY),
            f("Invoice_Status__c", "invoice_status"),
        ],
        parents=[
            ref("CB_Credit_Note__c", "CB_Credit_Note__c", EXT, _cb_id("$root.id")),
            ref("CB_Invoice__c", "CB_Invoice__c", EXT, _cb_id("invoice_id")),
        ],
    )


def reverse() -> list[ReverseMapping]:
    """Account and Contact → customer, only while `Sync_with_Chargebee__c` is checked."""
    account_fields = [
        ("Name", "company"),
        ("Phone", "phone"),
        ("Chargebee_Email__c", "email"),
        ("Chargebee_First_Name__c", "first_name"),
        ("Chargebee_Last_Name__c", "last_name"),
        ("Locale__c", "locale"),
        ("Auto_Collection__c", "auto_collection"),
        ("Taxability__c", "taxability"),
        ("VAT_Number__c", "vat_number"),
        ("BillingStreet", "billing_address.line1"),
        ("BillingCity", "billing_address.city"),
        ("BillingState", "billing_address.state"),
        ("BillingPostalCode", "billing_address.zip"),
        ("BillingCountry", "billing_address.country"),
    ]
    return [
        ReverseMapping(
            sobject="Account",
            billing_object="customer",
            key_field="Chargebee_Id__c",
            billing_key="id",
            require_true=["Sync_with_Chargebee__c"],
            fields=[
                *(ReverseField(salesforce=s, billing=b) for s, b in account_fields),
                ReverseField(salesforce="Net_Term_Days__c", billing="net_term_days", transform="int"),
            ],
        ),
        ReverseMapping(
            sobject="Contact",
            billing_object="customer",
            key_field="Chargebee_Id__c",
            billing_key="id",
            require_true=["Sync_with_Chargebee__c"],
            fields=[
                ReverseField(salesforce="Email", billing="email"),
                ReverseField(salesforce="FirstName", billing="first_name"),
                ReverseField(salesforce="LastName", billing="last_name"),
                ReverseField(salesforce="Phone", billing="phone"),
            ],
        ),
    ]


def default_mapping(
    site: str, *, domain: str | None = None, price_book: str = DEFAULT_PRICE_BOOK
) -> VendorMapping:
    """The default Chargebee mapping for `site` (the sub-domain of `<site>.chargebee.com`)."""
    if not site:
        raise ValueError("a Chargebee site name is needed: it is part of every CB_Id__c")
    options: dict[str, str | int | float | bool] = {"site": site, "price_book": price_book}
    if domain:
        options["domain"] = domain
    return VendorMapping(
        source=SOURCE,
        missing_is_null=True,
        options=options,
        objects=[
            cb_site(),
            cb_price_book(),
            account(),
            contact(),
            product(),
            item_price(),
            pricing_tier(),
            pricebook_entry(),
            quote(),
            quote_line_item(),
            opportunity(),
            opportunity_product(),
            cb_subscription(),
            subscription_addon(),
            coupon_line_item(),
            invoice(),
            invoice_line_item(),
            coupon(),
            credit_note(),
            credit_note_allocation(),
        ],
        reverse=reverse(),
    )
