"""HTML pages for the content team, gathered into one router in the order they were always mounted: sign-in
(pim.web.sign_in_pages), the product grid and dashboard (pim.web.grid_pages), the product page
(pim.web.product_page) and what its forms change (pim.web.product_edits), and jobs (pim.web.job_pages).

The names other modules and tests import from here stay importable from here (`render`, `templates`, the
product page's helpers, BULK_MAX/BULK_NOTICE); a constant a test patches must be patched where it is read."""

from __future__ import annotations

from fastapi import APIRouter

from pim.web import grid_pages, job_pages, product_edits, product_page, sign_in_pages
from pim.web.editing import BULK_MAX
from pim.web.grid_pages import BULK_NOTICE, bulk_edit, dashboard, grid
from pim.web.job_pages import EARLIER_ROWS, JOB_ROWS, job, jobs
from pim.web.pages import render, templates
from pim.web.product_edits import edit_value, upload
from pim.web.product_page import MODEL_TARGET, OUTRANKED, SAVED, SHOWN, _page_url, _product_page, form_value, value_rows
from pim.web.segment_route import SegmentRoute

router = APIRouter(include_in_schema=False, route_class=SegmentRoute)  # /products/a%2Fb is product 'a/b'
for _pages in (sign_in_pages, grid_pages, product_page, product_edits, job_pages):
    router.routes.extend(_pages.router.routes)  # the same route objects: no prefix or dependencies to add

__all__ = ["BULK_MAX", "BULK_NOTICE", "EARLIER_ROWS", "JOB_ROWS", "MODEL_TARGET", "OUTRANKED", "SAVED", "SHOWN",
           "_page_url", "_product_page", "bulk_edit", "dashboard", "edit_value", "form_value", "grid", "job", "jobs",
           "render", "router", "templates", "upload", "value_rows"]
