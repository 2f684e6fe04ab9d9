"""``lms demo``: build a realistic demo site through the services.

About 200 people in departments and locations with line managers and time zones; department,
location, job-function and hand-made groups; about 20 courses in categories with Markdown and
link lessons; enrollments in every state (pending, active without and with progress,
completed, withdrawn), a group enrollment, and compliance training that is overdue.

Every write goes through :mod:`lms_core.services`, exactly as the web UI, API and importer
write. The site has a history (courses done months ago, compliance training overdue): the
builder tells the services when each enrollment, lesson and withdrawal happened (``at=``), so
the rows and the events published about them carry the same past times, and plugins (badges,
points) see the history on the days it happened.

The same seed gives the same people, groups, courses and enrollments. The four demo
sign-in accounts get fresh random passwords on every build (printed once, in the summary).
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import textwrap
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from attrs import field
from attrs import frozen
from sqlalchemy import func
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import text

from lms_core.context import Context
from lms_core.db import Base
from lms_core.db import utcnow
from lms_core.errors import Conflict
from lms_core.errors import Invalid
from lms_core.models import Course
from lms_core.models import CourseStatus
from lms_core.models import Enrollment
from lms_core.models import EnrollmentSource
from lms_core.models import EnrollmentStatus
from lms_core.models import Group
from lms_core.models import GroupMember
from lms_core.models import Lesson
from lms_core.models import LessonProgress
from lms_core.models import PluginState
from lms_core.models import PluginStateVersion
from lms_core.models import User
from lms_core.runtime import LMS
from lms_core.services import courses as course_service
from lms_core.services import enrollments as enrollment_service
from lms_core.services import groups as group_service
from lms_core.services import progress as progress_service
from lms_core.services import roles as role_service
from lms_core.services import users as user_service

__all__ = ["DemoAccount", "DemoSummary", "build_demo", "MIN_USERS", "MIN_COURSES"]

#: The smallest site that still shows every feature (every department has a head, every
#: enrollment state occurs).
MIN_USERS = 12
MIN_COURSES = 4

Echo = Callable[[str], None]


# --------------------------------------------------------------------------- the result


@frozen
class DemoAccount:
    """A sign-in account printed at the end of ``lms demo``."""

    role: str
    email: str
    password: str = field(repr=False)
    name: str
    what: str


@frozen
class DemoSummary:
    """What ``build_demo`` made (counted from the database afterwards)."""

    seed: int
    users: int
    departments: int
    locations: int
    line_managers: int
    groups: int
    groups_by_kind: Mapping[str, int]
    courses: int
    courses_by_status: Mapping[str, int]
    lessons: int
    enrollments: Mapping[str, int]
    overdue: int
    lessons_completed: int
    accounts: tuple[DemoAccount, ...]
    seconds: float

    @property
    def enrollment_total(self) -> int:
        return sum(self.enrollments.values())

    def account(self, role: str) -> DemoAccount:
        return next(a for a in self.accounts if a.role == role)

    def describe(self, url: str | None = None) -> str:
        """A human summary: what was built and how to sign in.

        :param url: the address the site is about to be served at (None: not served now).
        """
        kinds = ", ".join(
            f"{n} {kind.replace('_', ' ')}" for kind, n in self.groups_by_kind.items()
        )
        statuses = ", ".join(f"{n} {status}" for status, n in self.enrollments.items())
        course_states = ", ".join(f"{n} {status}" for status, n in self.courses_by_status.items())
        width = max(len(a.email) for a in self.accounts)
        lines = [
            f"Demo site built in {self.seconds:.1f} s (seed {self.seed}):",
            f"  {self.users} users in {self.departments} departments and {self.locations} "
            f"locations, {self.line_managers} of them line managers",
            f"  {self.groups} groups ({kinds})",
            f"  {self.courses} courses ({course_states}) with {self.lessons} lessons",
            f"  {self.enrollment_total} enrollments ({statuses}); {self.overdue} overdue; "
            f"{self.lessons_completed} lessons completed",
            "",
            "Sign in with these demo accounts (the passwords are new on every build and shown only here):",
        ]
        for a in self.accounts:
            lines.append(
                f"  {a.role:<10}  {a.email:<{width}}  password: {a.password}   ({a.name}: {a.what})"
            )
        if url:
            where = f"Open {url} in a browser and sign in with one of these accounts"
            where += " (later, `lms serve` serves the same site)."
        else:
            where = "Serve the site with `lms serve` (or `lms demo` builds and serves it), open"
            where += " the address it prints and sign in with one of these accounts."
        lines += ["", where]
        return "\n".join(lines)


# --------------------------------------------------------------------------- people data

FIRST_NAMES = (
    "Aisha",
    "Alejandro",
    "Amara",
    "Anders",
    "Ananya",
    "Astrid",
    "Beatriz",
    "Ben",
    "Camila",
    "Chen",
    "Chloe",
    "Daniela",
    "David",
    "Diego",
    "Elena",
    "Emeka",
    "Emma",
    "Farah",
    "Felipe",
    "Fatima",
    "Gabriel",
    "Grace",
    "Hana",
    "Hannah",
    "Hiroshi",
    "Ibrahim",
    "Ines",
    "Isabel",
    "Jakob",
    "James",
    "Jia",
    "Jonas",
    "Julia",
    "Kai",
    "Karim",
    "Kwame",
    "Laura",
    "Leon",
    "Lucas",
    "Luisa",
    "Maya",
    "Mei",
    "Mateo",
    "Mohammed",
    "Nadia",
    "Noah",
    "Nora",
    "Olivia",
    "Omar",
    "Paula",
    "Rafael",
    "Ravi",
    "Rosa",
    "Samuel",
    "Sara",
    "Sebastian",
    "Sofia",
    "Tariq",
    "Thandiwe",
    "Tomás",
    "Valentina",
    "Wei",
    "Yara",
    "Yusuf",
    "Zoe",
    "Priyanka",
    "Marcus",
    "Ingrid",
    "Joaquín",
    "Siobhan",
)
LAST_NAMES = (
    "Abara",
    "Almeida",
    "Andersson",
    "Bauer",
    "Becker",
    "Bianchi",
    "Brown",
    "Campbell",
    "Carvalho",
    "Chen",
    "Costa",
    "Da Silva",
    "Dubois",
    "Evans",
    "Fernandes",
    "Fischer",
    "García",
    "Goh",
    "Gonzalez",
    "Gupta",
    "Hansen",
    "Hartmann",
    "Hughes",
    "Ito",
    "Iyer",
    "Jansen",
    "Johnson",
    "Kaur",
    "Keller",
    "Khan",
    "Kim",
    "Kowalski",
    "Lee",
    "Lim",
    "Lopes",
    "Martin",
    "Mendes",
    "Meyer",
    "Müller",
    "Murphy",
    "Nakamura",
    "Nguyen",
    "Novak",
    "O'Brien",
    "Okafor",
    "Oliveira",
    "Patel",
    "Pereira",
    "Ramos",
    "Rao",
    "Reyes",
    "Richter",
    "Rossi",
    "Santos",
    "Schmidt",
    "Shah",
    "Singh",
    "Smith",
    "Tan",
    "Taylor",
    "Thompson",
    "Wagner",
    "Walker",
    "Weber",
    "Williams",
    "Wong",
    "Yamamoto",
    "Zhang",
)

# department: (weight, head title, [job titles])
DEPARTMENTS: dict[str, tuple[int, str, tuple[str, ...]]] = {
    "Sales": (
        22,
        "Head of Sales",
        (
            "Account Executive",
            "Account Executive",
            "Sales Development Representative",
            "Account Manager",
            "Sales Operations Analyst",
        ),
    ),
    "Engineering": (
        25,
        "VP Engineering",
        (
            "Software Engineer",
            "Senior Software Engineer",
            "QA Engineer",
            "Site Reliability Engineer",
            "Data Engineer",
        ),
    ),
    "Operations": (
        15,
        "Head of Operations",
        (
            "Operations Coordinator",
            "Facilities Specialist",
            "Logistics Analyst",
            "Procurement Specialist",
        ),
    ),
    "Finance": (
        8,
        "Finance Director",
        (
            "Financial Analyst",
            "Accountant",
            "Payroll Specialist",
        ),
    ),
    "HR": (
        6,
        "Head of People",
        (
            "HR Business Partner",
            "Recruiter",
            "People Operations Coordinator",
        ),
    ),
    "Support": (
        16,
        "Head of Customer Support",
        (
            "Customer Support Specialist",
            "Customer Support Specialist",
            "Technical Support Engineer",
        ),
    ),
    "Marketing": (
        8,
        "Head of Marketing",
        (
            "Content Marketer",
            "Product Marketing Manager",
            "Marketing Designer",
        ),
    ),
}

# location: (weight, time zone, locale)
LOCATIONS: dict[str, tuple[int, str, str]] = {
    "London": (22, "Europe/London", "en-GB"),
    "New York": (22, "America/New_York", "en-US"),
    "Berlin": (20, "Europe/Berlin", "de"),
    "Singapore": (12, "Asia/Singapore", "en"),
    "São Paulo": (12, "America/Sao_Paulo", "pt-BR"),
    "Bengaluru": (8, "Asia/Kolkata", "en"),
    "Toronto": (6, "America/Toronto", "en"),
}

JOB_FUNCTION_GROUPS = (("Account executives", "Account Executive"),)


@frozen
class _DemoPerson:
    role: str
    email: str
    name: str
    roles: tuple[str, ...]
    department: str
    location: str
    job_title: str
    what: str


DEMO_PEOPLE = (
    _DemoPerson(
        "admin",
        "admin@example.com",
        "Morgan Reyes",
        ("admin", "learner"),
        "Operations",
        "London",
        "Learning Platform Administrator",
        "runs the site: users, groups, roles, plugins, audit log",
    ),
    _DemoPerson(
        "instructor",
        "instructor@example.com",
        "Priya Natarajan",
        ("course_creator", "learner"),
        "HR",
        "London",
        "Learning & Development Lead",
        "teaches several courses and sees their learners' progress",
    ),
    _DemoPerson(
        "manager",
        "manager@example.com",
        "Daniel Okafor",
        ("manager", "learner"),
        "Sales",
        "Berlin",
        "Sales Team Lead",
        "line manager of a sales team; enrolls people and approves requests",
    ),
    _DemoPerson(
        "learner",
        "learner@example.com",
        "Lena Fischer",
        ("learner",),
        "Sales",
        "Berlin",
        "Account Executive",
        "has courses completed, in progress, pending approval and overdue",
    ),
)


# --------------------------------------------------------------------------- course data


@frozen
class _Page:
    title: str
    intro: str
    points: tuple[str, ...]
    required: bool = True


@frozen
class _Link:
    title: str
    path: str
    blurb: str
    required: bool = True


_Lesson = _Page | _Link


@frozen
class _CourseSpec:
    code: str
    title: str
    category: str
    tags: tuple[str, ...]
    summary: str
    lessons: tuple[_Lesson, ...]
    policy: str = "open"
    capacity: int | None = None
    due_days: int | None = None
    status: str = CourseStatus.PUBLISHED.value


TIPS = {
    "Compliance": "If you are unsure whether something is allowed, ask before you act: the compliance team would much rather answer a question than investigate an incident.",
    "Safety": "Safety is everyone's job. If you see a hazard, report it the same day, even if it seems small.",
    "Leadership": "Pick one idea from this lesson and try it in your next team conversation; then reflect on how it went.",
    "Technical": "Practise in a scratch project first: mistakes are cheap there.",
    "Onboarding": "Bookmark the pages you will need again, and don't hesitate to ask your buddy.",
    "Sales": "Role-play the technique with a colleague before using it with a customer.",
    "Finance": "When in doubt, keep the receipt and write down what the spend was for.",
    "Customer Service": "Customers remember how you made them feel long after they forget the fix.",
    "Marketing": "Read your copy out loud: if it doesn't sound like us, rewrite it.",
}


def _p(title: str, intro: str, *points: str, required: bool = True) -> _Page:
    return _Page(title, intro, points, required)


def _l(title: str, path: str, blurb: str, *, required: bool = True) -> _Link:
    return _Link(title, path, blurb, required)


COURSES: tuple[_CourseSpec, ...] = (
    _CourseSpec(
        "COMP-101",
        "Code of Conduct",
        "Compliance",
        ("compliance", "annual", "ethics"),
        "Our standards of behaviour, how to raise a concern, and what happens when you do. Required for everyone every year.",
        (
            _p(
                "Why we have a Code of Conduct",
                "The Code describes how we work with each other, our customers and our partners.",
                "It applies to everyone, in every country and every role",
                "It explains the standards behind our values",
                "Breaking it can lead to disciplinary action",
            ),
            _p(
                "Respect at work",
                "Everyone deserves a workplace free of harassment and discrimination.",
                "Treat colleagues, candidates and customers with courtesy",
                "Harassment includes jokes, comments and messages as well as actions",
                "Speak up if you witness something that is not right",
            ),
            _p(
                "Conflicts of interest",
                "A conflict of interest arises when personal interests could influence your work decisions.",
                "Declare outside jobs, investments and family relationships with suppliers",
                "Never approve work or spending that benefits you personally",
                "When in doubt, declare it: a declared conflict is rarely a problem",
            ),
            _l(
                "Read the full Code of Conduct",
                "/policies/code-of-conduct",
                "The complete Code (PDF, 24 pages). Keep it handy for reference.",
            ),
            _p(
                "Raising a concern",
                "You can raise a concern in good faith without fear of retaliation.",
                "Talk to your manager, HR or the compliance team",
                "Use the anonymous Speak Up line if you prefer",
                "Retaliation against anyone who raises a concern is itself a breach of the Code",
            ),
        ),
        policy="managers",
        due_days=30,
    ),
    _CourseSpec(
        "ONB-101",
        "Welcome aboard: your first weeks",
        "Onboarding",
        ("onboarding", "new starters"),
        "Everything a new starter needs in the first weeks: who we are, how we work, and where to find help.",
        (
            _p(
                "Who we are",
                "A short tour of the company: our mission, our customers and how the teams fit together.",
                "Our mission and the products we build",
                "How departments work together",
                "Where our offices are and how we collaborate across time zones",
            ),
            _p(
                "Your first week checklist",
                "Work through this list with your manager during your first week.",
                "Collect your laptop and set up your accounts",
                "Meet your buddy and your team",
                "Book your first one-to-one with your manager",
            ),
            _l(
                "The employee handbook",
                "/handbook",
                "Holidays, benefits, expenses and everything else in one place.",
            ),
            _p(
                "How we communicate",
                "We write things down so that colleagues in other time zones can follow along.",
                "Chat for quick questions, email for external contacts",
                "Decisions are recorded in the team's wiki page",
                "Meetings have an agenda and notes",
            ),
            _l(
                "Meet the leadership team",
                "/about/leadership",
                "Short video introductions from each department head.",
                required=False,
            ),
        ),
    ),
    _CourseSpec(
        "LEAD-201",
        "Effective one-to-ones",
        "Leadership",
        ("leadership", "coaching", "managers"),
        "A practical workshop on running one-to-ones that people look forward to. Places are limited; your request is approved by the L&D team.",
        (
            _p(
                "The purpose of a one-to-one",
                "A one-to-one is your report's meeting, not a status update.",
                "Let them set most of the agenda",
                "Cover wellbeing, growth and obstacles",
                "Keep the slot even when you are busy",
            ),
            _p(
                "Asking good questions",
                "Open questions get people talking; closed ones end conversations.",
                "Start with 'what' and 'how' rather than 'why'",
                "Pause and let silence do some work",
                "Summarise what you heard before you advise",
            ),
            _p(
                "Follow-up and notes",
                "Shared notes turn conversations into progress.",
                "Agree actions and owners before you finish",
                "Keep notes in a shared document",
                "Review last time's actions first",
            ),
            _l(
                "One-to-one agenda template",
                "/templates/one-to-one",
                "A copyable template for your shared notes.",
            ),
            _p(
                "Difficult conversations",
                "Sometimes a one-to-one is where hard news is given.",
                "Prepare the key message in one sentence",
                "Describe behaviour and impact, not personality",
                "Agree the next step together",
                required=False,
            ),
        ),
        policy="approval",
        capacity=16,
    ),
    _CourseSpec(
        "TECH-110",
        "Git fundamentals",
        "Technical",
        ("git", "version control", "engineering"),
        "Version control with Git from first commit to pull request.",
        (
            _p(
                "Why version control",
                "Git records every change, who made it and why.",
                "Undo mistakes safely",
                "Work on features in parallel on branches",
                "Review changes before they are merged",
            ),
            _p(
                "Commits and branches",
                "A commit is a snapshot; a branch is a movable pointer to one.",
                "Write commit messages in the imperative mood",
                "Keep commits small and focused",
                "Create a branch per piece of work",
            ),
            _l(
                "Interactive Git tutorial",
                "/tutorials/git-branching",
                "Practise branching and merging in the browser.",
            ),
            _p(
                "Pull requests and review",
                "Every change is reviewed before it reaches the main branch.",
                "Describe what changed and how you tested it",
                "Respond to every review comment",
                "Squash fix-up commits before merging",
            ),
            _p(
                "Resolving merge conflicts",
                "Conflicts happen when two branches change the same lines.",
                "Pull the latest main branch often",
                "Resolve conflicts in your editor, then run the tests",
                "Ask the other author when the right answer is unclear",
            ),
            _l(
                "Git cheat sheet",
                "/cheatsheets/git",
                "A one-page reference of the commands you will use every day.",
                required=False,
            ),
        ),
    ),
    _CourseSpec(
        "SAFE-101",
        "Fire safety and evacuation",
        "Safety",
        ("safety", "fire", "annual"),
        "What to do if the alarm sounds, how to prevent fires, and how evacuations work in our offices.",
        (
            _p(
                "Preventing fires",
                "Most workplace fires are preventable.",
                "Keep fire doors closed and exits clear",
                "Report damaged cables and overloaded sockets",
                "Never leave cooking unattended in the kitchen",
            ),
            _p(
                "When the alarm sounds",
                "Leave at once by the nearest safe exit.",
                "Do not stop to collect belongings",
                "Do not use the lifts",
                "Go to your office's assembly point and report to the fire warden",
            ),
            _l(
                "Office evacuation maps",
                "/safety/evacuation-maps",
                "Floor plans with exits and assembly points for every office.",
            ),
            _p(
                "Fire wardens",
                "Each floor has trained fire wardens who sweep the floor and take the roll call.",
                "Know who your fire wardens are",
                "Follow their instructions during an evacuation",
                "Volunteer: training is free and takes half a day",
            ),
        ),
        policy="managers",
        due_days=30,
    ),
    _CourseSpec(
        "AI-101",
        "Using AI assistants responsibly",
        "Technical",
        ("ai", "productivity", "data protection"),
        "How to use AI assistants at work productively and safely. In preparation.",
        (
            _p(
                "What AI assistants are good at",
                "AI assistants draft, summarise and explain quickly, and are sometimes confidently wrong.",
                "Use them for first drafts and brainstorming",
                "Check facts, numbers and quotes yourself",
                "You remain responsible for the result",
            ),
            _p(
                "What never goes into a prompt",
                "Prompts may be stored by the provider.",
                "No customer personal data",
                "No passwords, keys or confidential financials",
                "Use only the approved tools listed on the intranet",
            ),
            _l(
                "Approved AI tools",
                "/it/approved-ai-tools",
                "The current list of tools approved by IT and Legal.",
            ),
        ),
        status=CourseStatus.DRAFT.value,
    ),
    _CourseSpec(
        "SALES-150",
        "Consultative selling",
        "Sales",
        ("sales", "discovery", "customers"),
        "Move from pitching products to solving customer problems. Requests are approved by your sales manager.",
        (
            _p(
                "From pitch to conversation",
                "Consultative selling starts with the customer's situation, not our product.",
                "Research the account before the first call",
                "Spend the first meeting mostly listening",
                "Confirm the problem in the customer's own words",
            ),
            _p(
                "Discovery questions",
                "Good discovery uncovers the pain, its cost and who decides.",
                "Ask about current process and what it costs them",
                "Find out who else is affected",
                "Learn how they make buying decisions",
            ),
            _l(
                "Discovery call guide",
                "/sales/discovery-guide",
                "Question bank and call structure used by our top performers.",
            ),
            _p(
                "Presenting a solution",
                "Tie every feature you mention to a problem they told you about.",
                "Recap their priorities first",
                "Show only the relevant capabilities",
                "Agree clear next steps and dates",
            ),
            _p(
                "Handling objections",
                "An objection is a request for more information.",
                "Acknowledge and ask a clarifying question",
                "Answer with evidence, such as a customer story",
                "Check whether the concern is resolved",
                required=False,
            ),
        ),
        policy="approval",
    ),
    _CourseSpec(
        "FIN-090",
        "Expense claims in the old finance system",
        "Finance",
        ("finance", "expenses", "legacy"),
        "How to submit expense claims in the previous finance system. Retired: see the new expenses course.",
        (
            _p(
                "Submitting a claim",
                "Claims were entered in the old system under My Expenses.",
                "Photograph every receipt",
                "Choose the right cost centre",
                "Submit within 30 days of the spend",
            ),
            _p(
                "Approval workflow",
                "Claims went to your line manager and then to Finance.",
                "Managers approve within five working days",
                "Finance checks receipts against the policy",
                "Payment follows with the next payroll",
            ),
            _l(
                "Expenses policy (archived)",
                "/finance/expenses-policy-2024",
                "The policy as it applied to the old system.",
            ),
        ),
        status=CourseStatus.ARCHIVED.value,
    ),
    _CourseSpec(
        "COMP-120",
        "Data protection and GDPR essentials",
        "Compliance",
        ("compliance", "gdpr", "privacy", "annual"),
        "How we handle personal data lawfully and what to do if something goes wrong.",
        (
            _p(
                "What counts as personal data",
                "Personal data is any information about an identifiable person.",
                "Names, emails, phone numbers and IDs",
                "Opinions about a person and their performance",
                "Location data and online identifiers",
            ),
            _p(
                "The data protection principles",
                "Six principles govern how we use personal data.",
                "Collect only what you need, for a stated purpose",
                "Keep it accurate and no longer than necessary",
                "Protect it with appropriate security",
            ),
            _p(
                "Individuals' rights",
                "People can ask to see, correct or delete their data.",
                "Forward any such request to the privacy team the same day",
                "We must answer within one month",
                "Never ask why someone wants their data",
            ),
            _p(
                "Reporting a data breach",
                "Lost laptops, misdirected emails and hacked accounts can all be breaches.",
                "Report to the privacy team immediately, day or night",
                "Do not try to investigate alone",
                "We have 72 hours to notify the regulator",
            ),
            _l(
                "Privacy policy and breach form",
                "/privacy",
                "Our privacy policy and the breach report form.",
            ),
            _l(
                "Regulator guidance (optional reading)",
                "/privacy/regulator-guidance",
                "A plain-language guide from the regulator.",
                required=False,
            ),
        ),
        policy="managers",
        due_days=30,
    ),
    _CourseSpec(
        "LEAD-301",
        "New manager essentials",
        "Leadership",
        ("leadership", "managers", "new managers"),
        "For people in their first year of managing a team. Enrolment is arranged by your manager.",
        (
            _p(
                "From doing to enabling",
                "Your success is now measured by your team's success.",
                "Delegate outcomes, not tasks",
                "Protect focus time for your team",
                "Make decisions visible and explain them",
            ),
            _p(
                "Setting expectations",
                "People do their best work when they know what good looks like.",
                "Agree goals that are specific and measurable",
                "Review them regularly, not only at year end",
                "Recognise progress publicly",
            ),
            _p(
                "Hiring well",
                "Every hire changes the team.",
                "Write down what the role needs before interviewing",
                "Use structured interviews with the same questions",
                "Involve the team in the decision",
            ),
            _l(
                "Manager toolkit",
                "/managers/toolkit",
                "Templates for goals, reviews and team meetings.",
            ),
            _p(
                "Looking after yourself",
                "Managing is demanding; build a support network.",
                "Find a peer manager to compare notes with",
                "Use the coaching budget",
                "Block time for your own development",
                required=False,
            ),
        ),
        policy="managers",
    ),
    _CourseSpec(
        "TECH-220",
        "Python for data analysis",
        "Technical",
        ("python", "data", "pandas"),
        "Load, clean, analyse and chart data with Python and pandas. Limited places per cohort.",
        (
            _p(
                "Setting up",
                "We use a standard Python environment so that notebooks run everywhere.",
                "Install the approved Python distribution",
                "Create a virtual environment per project",
                "Open the course notebook",
            ),
            _p(
                "Loading and cleaning data",
                "Real data is messy.",
                "Read CSV and Excel files with pandas",
                "Handle missing values explicitly",
                "Check types and ranges before analysing",
            ),
            _p(
                "Grouping and aggregating",
                "Most business questions are group-by questions.",
                "Use groupby with named aggregations",
                "Pivot tables for cross-tabulations",
                "Keep the raw data unchanged",
            ),
            _l(
                "pandas documentation", "/docs/pandas", "The official user guide and API reference."
            ),
            _p(
                "Charts that communicate",
                "A chart should answer one question.",
                "Label axes and units",
                "Start bar charts at zero",
                "Prefer small multiples to crowded charts",
            ),
            _p(
                "Sharing your analysis",
                "Make your work reproducible.",
                "Restart and run the whole notebook before sharing",
                "Write down your assumptions",
                "Store data and notebooks in the team space",
                required=False,
            ),
        ),
        capacity=25,
    ),
    _CourseSpec(
        "SAFE-140",
        "Display screen ergonomics",
        "Safety",
        ("safety", "ergonomics", "wellbeing"),
        "Set up your desk, at home or in the office, to avoid strain and injury.",
        (
            _p(
                "Your chair and desk",
                "Small adjustments prevent long-term problems.",
                "Feet flat on the floor, knees at hip height",
                "Elbows at desk height",
                "Lower back supported",
            ),
            _p(
                "Your screen",
                "Position the screen to keep your neck neutral.",
                "Top of the screen at eye level",
                "An arm's length away",
                "Reduce glare from windows",
            ),
            _l(
                "Workstation self-assessment",
                "/safety/dse-assessment",
                "A ten-minute checklist; request equipment at the end.",
            ),
            _p(
                "Breaks and movement",
                "Regular short breaks beat occasional long ones.",
                "Look away from the screen every 20 minutes",
                "Stand up and move every hour",
                "Report discomfort early",
            ),
        ),
    ),
    _CourseSpec(
        "ONB-110",
        "Tools and systems we use",
        "Onboarding",
        ("onboarding", "tools", "it"),
        "A guided tour of the tools you will use every day, and how to get help with them.",
        (
            _p(
                "Accounts and security",
                "Your account protects company and customer data.",
                "Turn on multi-factor authentication on day one",
                "Use the password manager",
                "Lock your screen when you step away",
            ),
            _l(
                "IT help centre",
                "/it/help",
                "Raise a ticket, reset a password or find a how-to guide.",
            ),
            _p(
                "Chat, email and calendar",
                "Use the right channel for the message.",
                "Chat for quick team questions",
                "Email for external contacts and formal records",
                "Share your calendar so colleagues can find time",
            ),
            _p(
                "Documents and the wiki",
                "Knowledge lives in the wiki, not in inboxes.",
                "Search the wiki before asking",
                "Update a page when you find it out of date",
                "Store files in shared drives, not on your laptop",
            ),
        ),
    ),
    _CourseSpec(
        "COMP-130",
        "Anti-bribery and corruption",
        "Compliance",
        ("compliance", "anti-bribery", "annual"),
        "How to recognise and refuse bribes, and our rules on gifts and hospitality.",
        (
            _p(
                "What is a bribe",
                "A bribe is anything of value offered to improperly influence a decision.",
                "It can be cash, gifts, hospitality, jobs or favours",
                "Facilitation payments are bribes too",
                "Offering a bribe is as serious as accepting one",
            ),
            _p(
                "Gifts and hospitality",
                "Modest, occasional and transparent is the rule.",
                "Register every gift above the threshold",
                "Never accept cash or cash equivalents",
                "Be especially careful with public officials",
            ),
            _p(
                "Third parties",
                "We are responsible for bribes paid on our behalf.",
                "Check agents and distributors before engaging them",
                "Watch for unusual payment requests",
                "Report red flags to the compliance team",
            ),
            _l(
                "Gifts and hospitality register",
                "/compliance/gifts-register",
                "Record a gift or hospitality you gave or received.",
            ),
        ),
        policy="managers",
        due_days=45,
    ),
    _CourseSpec(
        "SALES-210",
        "Negotiation skills",
        "Sales",
        ("sales", "negotiation"),
        "Prepare for and run negotiations that keep both the deal and the relationship. Small groups; approval needed.",
        (
            _p(
                "Preparing to negotiate",
                "Most negotiations are won in preparation.",
                "Know your walk-away point",
                "Understand the other side's interests",
                "Plan what you can trade",
            ),
            _p(
                "Anchoring and concessions",
                "The first number sets the frame.",
                "Anchor ambitiously but credibly",
                "Never concede without getting something back",
                "Make concessions smaller as you go",
            ),
            _p(
                "Closing the deal",
                "Summarise, confirm and write it down.",
                "Recap every agreed term",
                "Confirm who signs and by when",
                "Send written confirmation the same day",
            ),
            _l(
                "Negotiation planning sheet",
                "/sales/negotiation-plan",
                "Fill this in before every significant negotiation.",
            ),
        ),
        policy="approval",
        capacity=20,
    ),
    _CourseSpec(
        "TECH-310",
        "Secure coding practices",
        "Technical",
        ("security", "engineering", "owasp"),
        "Avoid the most common security flaws in web applications.",
        (
            _p(
                "Thinking like an attacker",
                "Every input is untrusted until validated.",
                "Validate on the server, not just in the browser",
                "Use allow-lists rather than deny-lists",
                "Fail closed",
            ),
            _p(
                "Injection",
                "Never build queries or commands by string concatenation.",
                "Use parameterised queries",
                "Escape output for its context",
                "Avoid shelling out with user input",
            ),
            _p(
                "Authentication and secrets",
                "Credentials are the keys to the kingdom.",
                "Hash passwords with a slow algorithm such as argon2",
                "Keep secrets out of source control",
                "Rotate keys when people leave",
            ),
            _l(
                "OWASP Top 10",
                "/security/owasp-top-10",
                "The industry's list of the most critical web application risks.",
            ),
            _p(
                "Dependencies",
                "Most code we ship is someone else's.",
                "Pin versions and review updates",
                "Watch security advisories",
                "Remove dependencies you no longer use",
            ),
            _l(
                "Our security review checklist",
                "/security/review-checklist",
                "Used in every pull request review.",
                required=False,
            ),
        ),
    ),
    _CourseSpec(
        "LEAD-220",
        "Giving and receiving feedback",
        "Leadership",
        ("feedback", "communication", "leadership"),
        "Useful for everyone, not just managers: give feedback people can act on, and take it well.",
        (
            _p(
                "Why feedback matters",
                "Feedback is how we learn what others see.",
                "Frequent small feedback beats rare big reviews",
                "Positive feedback reinforces what works",
                "Silence is also a message",
            ),
            _p(
                "Giving feedback",
                "Describe the situation, the behaviour and its impact.",
                "Be specific and timely",
                "Talk about behaviour, not personality",
                "Ask for their view before suggesting a fix",
            ),
            _p(
                "Receiving feedback",
                "Listen to understand, not to defend.",
                "Thank the person for telling you",
                "Ask for an example if it is unclear",
                "Decide what you will do with it",
            ),
        ),
    ),
    _CourseSpec(
        "SUP-120",
        "Handling difficult customer conversations",
        "Customer Service",
        ("support", "customers", "communication"),
        "Stay calm, show empathy and find a way forward when a customer is upset.",
        (
            _p(
                "Listening first",
                "An upset customer first needs to be heard.",
                "Let them finish without interrupting",
                "Acknowledge the feeling as well as the problem",
                "Summarise to show you understood",
            ),
            _p(
                "Owning the problem",
                "The customer wants to know someone is on it.",
                "Say what you will do and by when",
                "Avoid blaming other teams",
                "Follow up even when there is no news yet",
            ),
            _l(
                "Escalation guide",
                "/support/escalations",
                "When and how to bring in a team lead or engineering.",
            ),
            _p(
                "Looking after yourself",
                "Difficult conversations take energy.",
                "Take a short break after a hard call",
                "Talk it through with your team lead",
                "Use the employee assistance programme if it weighs on you",
                required=False,
            ),
        ),
    ),
    _CourseSpec(
        "COMP-140",
        "Information security awareness",
        "Compliance",
        ("compliance", "security", "phishing", "annual"),
        "Recognise phishing, protect your devices and report incidents quickly.",
        (
            _p(
                "Spotting phishing",
                "Phishing messages try to rush you into clicking or paying.",
                "Check the sender's real address",
                "Hover over links before clicking",
                "Be suspicious of urgency and secrecy",
            ),
            _p(
                "Protecting your devices",
                "A lost laptop should be an inconvenience, not a breach.",
                "Keep your operating system updated",
                "Never disable disk encryption",
                "Lock your screen every time you step away",
            ),
            _l(
                "Report a suspicious email",
                "/security/report-phishing",
                "How to use the Report button in your mail client.",
            ),
            _p(
                "Reporting incidents",
                "Report anything suspicious at once: speed limits the damage.",
                "Call the IT hotline for urgent issues",
                "Don't delete evidence",
                "There is no blame for reporting in good faith",
            ),
        ),
        policy="managers",
        due_days=30,
    ),
    _CourseSpec(
        "MKT-101",
        "Our brand and tone of voice",
        "Marketing",
        ("marketing", "brand", "writing"),
        "How we sound and look, so that everything we publish feels like us. Being revised for the new brand.",
        (
            _p(
                "Our brand in one page",
                "Our brand is a promise to customers.",
                "Clear, warm and confident",
                "Plain words over jargon",
                "Show, don't boast",
            ),
            _p(
                "Writing in our voice",
                "We write like a knowledgeable colleague, not a lawyer.",
                "Use short sentences and active verbs",
                "Address the reader as 'you'",
                "Cut every word that doesn't help",
            ),
            _l(
                "Brand guidelines", "/brand/guidelines", "Logos, colours, typography and templates."
            ),
        ),
        status=CourseStatus.DRAFT.value,
    ),
    _CourseSpec(
        "SAFE-210",
        "First aid at work",
        "Safety",
        ("safety", "first aid"),
        "A certified first-aid course for volunteers. Very limited places; approval needed.",
        (
            _p(
                "Assessing the scene",
                "Make sure you are safe before you help.",
                "Check for danger to yourself and others",
                "Call emergency services early",
                "Send someone for the first-aid kit and defibrillator",
            ),
            _p(
                "CPR and the defibrillator",
                "Early CPR and defibrillation save lives.",
                "Push hard and fast in the centre of the chest",
                "Follow the defibrillator's spoken instructions",
                "Don't stop until help arrives",
            ),
            _p(
                "Common injuries",
                "Most incidents at work are minor.",
                "Cool burns under running water for 20 minutes",
                "Apply pressure to bleeding",
                "Record every incident in the accident book",
            ),
            _l(
                "First-aid kit locations",
                "/safety/first-aid",
                "Where to find kits and defibrillators in each office.",
            ),
        ),
        policy="approval",
        capacity=12,
    ),
    _CourseSpec(
        "FIN-110",
        "Budgeting basics for budget holders",
        "Finance",
        ("finance", "budgeting", "managers"),
        "Plan, track and forecast your cost centre's budget.",
        (
            _p(
                "How our budget cycle works",
                "Budgets are set once a year and forecast quarterly.",
                "Submit next year's plan by October",
                "Forecast at the end of each quarter",
                "Explain variances above ten per cent",
            ),
            _p(
                "Reading your budget report",
                "The monthly report compares actuals with budget.",
                "Check the biggest lines first",
                "Look for timing differences",
                "Ask Finance about anything unexpected",
            ),
            _l(
                "Budget report guide",
                "/finance/budget-report-guide",
                "Column-by-column explanation of the monthly report.",
            ),
        ),
    ),
)


def _course_specs(count: int) -> list[_CourseSpec]:
    """The first ``count`` catalog courses; more than the catalog repeats it as new cohorts."""
    out: list[_CourseSpec] = []
    cohort = 1
    while len(out) < count:
        for spec in COURSES:
            if len(out) == count:
                break
            if cohort == 1:
                out.append(spec)
            else:
                out.append(
                    _CourseSpec(
                        f"{spec.code}-{cohort}",
                        f"{spec.title} (cohort {cohort})",
                        spec.category,
                        spec.tags,
                        spec.summary,
                        spec.lessons,
                        policy=spec.policy,
                        capacity=spec.capacity,
                        due_days=spec.due_days,
                        status=CourseStatus.PUBLISHED.value,
                    )
                )
        cohort += 1
    return out


def _file_lessons(ctx: Context, course: Course, spec: _CourseSpec, *, first: bool) -> int:
    """Every course ends with an optional printable summary (a PDF built here, complete when
    opened); the first course also has a short recording (a WAV tone, marked complete)."""
    from lms_core import sample_files
    from lms_core.services import file_lessons

    summary = [spec.title, "", *textwrap.wrap(spec.summary, 80), "", f"Course code: {spec.code}"]
    file_lessons.add_file_lesson(
        ctx,
        course,
        "Printable summary (PDF)",
        data=sample_files.pdf(summary, title=spec.title),
        filename=f"{spec.code} summary.pdf",
        completion="opened",
        body="The course on one page, to print or keep.",
        required=False,
    )
    if not first:
        return 1
    file_lessons.add_file_lesson(
        ctx,
        course,
        "A word from the compliance team (audio)",
        data=sample_files.wav(2.0),
        filename="welcome.wav",
        completion="marked",
        body="Two seconds of tone standing in for a recorded welcome.",
        required=False,
    )
    return 2


def _page_body(spec: _CourseSpec, lesson: _Page) -> str:
    points = "\n".join(f"- {point}" for point in lesson.points)
    tip = TIPS.get(
        spec.category, "Take notes as you go; you can come back to this lesson at any time."
    )
    # No "# title" first: the lesson page shows the title as its heading.
    return (
        f"{lesson.intro}\n\n"
        f"## Key points\n\n{points}\n\n"
        "## In practice\n\n"
        "1. Read the key points and note the one that matters most in your role.\n"
        "2. Talk it through with your manager or team this week.\n"
        "3. Mark this lesson complete when you are ready to move on.\n\n"
        f"> **Tip:** {tip}\n"
    )


# --------------------------------------------------------------------------- helpers


def _ascii(value: str) -> str:
    value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in value.lower() if ch.isalnum())


def _weighted(rng: random.Random, table: Mapping[str, tuple[Any, ...]]) -> str:
    names = list(table)
    return rng.choices(names, weights=[table[n][0] for n in names])[0]


def _as(ctx: Context, actor: User) -> Context:
    """A unit of work in the same transaction, acted by ``actor`` (events still go to ``ctx``)."""
    return Context(
        session=ctx.session,
        hooks=ctx.hooks,
        actor=ctx.attach(actor),
        address=ctx.address,
        lms=ctx.lms,
        event_ids=ctx.event_ids,
        after_commit=ctx.after_commit,
    )


def _new_password() -> str:
    return "demo-" + secrets.token_urlsafe(9)


def _wipe(lms: LMS) -> None:
    """Delete every row of every core and plugin table, keeping the schema and plugin state."""
    keep = {PluginState.__tablename__, PluginStateVersion.__tablename__}
    with lms.engine.begin() as conn:
        existing = set(inspect(conn).get_table_names())
        tables = [
            t
            for t in reversed(Base.metadata.sorted_tables)
            if t.name in existing and t.name not in keep
        ]
        if not tables:
            return
        if lms.is_postgres:
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


# --------------------------------------------------------------------------- the builder


class _Builder:
    def __init__(self, lms: LMS, *, users: int, courses: int, seed: int, echo: Echo) -> None:
        self.lms = lms
        self.user_count = users
        self.course_count = courses
        self.seed = seed
        self.rng = random.Random(seed)
        self.echo = echo
        self.now = utcnow()
        self.passwords: dict[str, str] = {}
        # ids, in creation order (the order every later random choice walks)
        self.user_ids: list[int] = []
        self.demo_ids: dict[str, int] = {}
        self.instructor_ids: list[int] = []
        self.course_ids: list[int] = []
        self.specs: list[_CourseSpec] = []
        self.group_ids: dict[str, int] = {}
        self.department_groups: list[str] = []

    # ----------------------------------------------------------------- phase 1: people

    def people(self) -> None:
        rng = self.rng
        generated = self.user_count - len(DEMO_PEOPLE)
        departments = list(DEPARTMENTS)
        taken = {p.email for p in DEMO_PEOPLE}
        taken_names = {p.name for p in DEMO_PEOPLE}
        profiles: list[dict[str, Any]] = []
        for i in range(generated):
            # every department gets someone (its head) before the weighted draw starts
            department = departments[i] if i < len(departments) else _weighted(rng, DEPARTMENTS)
            location = _weighted(rng, LOCATIONS)
            for _attempt in range(50):  # unique names while the lists last
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                if f"{first} {last}" not in taken_names:
                    break
            taken_names.add(f"{first} {last}")
            base = f"{_ascii(first)}.{_ascii(last)}"
            email, n = f"{base}@example.com", 2
            while email in taken:
                email, n = f"{base}{n}@example.com", n + 1
            taken.add(email)
            profiles.append(
                {
                    "email": email,
                    "name": f"{first} {last}",
                    "department": department,
                    "location": location,
                }
            )

        # Structure: each department has a head; about one in eight people leads a team
        # that reports to the head; everyone else reports to a team lead (or the head).
        heads: dict[str, dict[str, Any]] = {}
        leads: dict[str, list[dict[str, Any]]] = {d: [] for d in departments}
        staff: list[dict[str, Any]] = []
        for profile in profiles:
            department = profile["department"]
            if department not in heads:
                heads[department] = profile
                profile["job_title"] = DEPARTMENTS[department][1]
                profile["tier"] = 0
            elif rng.random() < 0.12:
                leads[department].append(profile)
                profile["job_title"] = f"{department} Team Lead"
                profile["tier"] = 1
            else:
                profile["job_title"] = rng.choice(DEPARTMENTS[department][2])
                profile["tier"] = 2
                staff.append(profile)
        for department, team_leads in leads.items():
            for lead in team_leads:
                lead["manager"] = heads[department]["email"]
        demo_manager = next(p for p in DEMO_PEOPLE if p.role == "manager")
        demo_learner = next(p for p in DEMO_PEOPLE if p.role == "learner")
        for profile in staff:
            department = profile["department"]
            choices = [lead["email"] for lead in leads[department]] + [heads[department]["email"]]
            if department == demo_manager.department:
                choices.append(demo_manager.email)
            profile["manager"] = rng.choice(choices)

        with self.lms.transaction(system=True) as ctx:
            by_email: dict[str, User] = {}

            def create(
                profile: Mapping[str, Any],
                *,
                password: str | None = None,
                roles: tuple[str, ...] = ("learner",),
            ) -> User:
                _, timezone, locale = LOCATIONS[profile["location"]]
                manager = by_email.get(profile.get("manager") or "")
                user = user_service.create_user(
                    ctx,
                    profile["email"],
                    name=profile["name"],
                    password=password,
                    roles=roles,
                    source="demo",
                    department=profile["department"],
                    location=profile["location"],
                    job_title=profile["job_title"],
                    manager_id=manager.id if manager is not None else None,
                    timezone=timezone,
                    locale=locale,
                )
                by_email[user.email] = user
                self.user_ids.append(user.id)
                return user

            for profile in heads.values():
                create(profile)
            for person in DEMO_PEOPLE:
                password = _new_password()
                self.passwords[person.role] = password
                manager = None
                if person is demo_manager:
                    manager = heads[person.department]["email"]
                elif person is demo_learner:
                    manager = demo_manager.email
                elif person.department in heads:
                    manager = heads[person.department]["email"]
                user = create(
                    {
                        "email": person.email,
                        "name": person.name,
                        "department": person.department,
                        "location": person.location,
                        "job_title": person.job_title,
                        "manager": manager,
                    },
                    password=password,
                    roles=person.roles,
                )
                self.demo_ids[person.role] = user.id
            for department in departments:
                for lead in leads[department]:
                    create(lead)
            # A few experienced people also teach: they may create courses (site-wide), and
            # teach the ones they create or are given (instructor in those courses only).
            teachers = {p["email"] for p in rng.sample(staff, k=min(3, len(staff)))}
            for profile in staff:
                roles = (
                    ("course_creator", "learner") if profile["email"] in teachers else ("learner",)
                )
                user = create(profile, roles=roles)
                if profile["email"] in teachers:
                    self.instructor_ids.append(user.id)
        self.instructor_ids.insert(0, self.demo_ids["instructor"])
        self.echo(
            f"  people: {len(self.user_ids)} users in {len(heads)} departments, "
            f"{len(self.instructor_ids)} instructors"
        )

    # ----------------------------------------------------------------- phase 2: groups

    def groups(self) -> None:
        rng = self.rng
        with self.lms.transaction(system=True) as ctx:
            present = ctx.session.execute(
                select(User.department, User.location).where(User.id.in_(self.user_ids))
            ).all()
            departments = [d for d in DEPARTMENTS if any(row[0] == d for row in present)]
            locations = [loc for loc in LOCATIONS if any(row[1] == loc for row in present)]
            for department in departments:
                name = f"{department} department"
                group = group_service.create_group(
                    ctx,
                    name,
                    kind="department",
                    description=f"Everyone whose department is {department} (kept up to date automatically).",
                    rule={"department": department},
                )
                self.group_ids[name] = group.id
                self.department_groups.append(name)
            for location in locations:
                name = f"{location} office"
                group = group_service.create_group(
                    ctx,
                    name,
                    kind="location",
                    description=f"Everyone based in {location}.",
                    rule={"location": location},
                )
                self.group_ids[name] = group.id
            for name, title in JOB_FUNCTION_GROUPS:
                group = group_service.create_group(
                    ctx,
                    name,
                    kind="job_function",
                    description=f"Everyone whose job title is {title}.",
                    rule={"job_title": title},
                )
                self.group_ids[name] = group.id

            users = {
                u.id: u for u in ctx.session.scalars(select(User).where(User.id.in_(self.user_ids)))
            }
            ordinary = [uid for uid in self.user_ids if uid not in self.demo_ids.values()]
            new_starters = rng.sample(ordinary, k=max(3, len(ordinary) // 12))
            new_starters.append(self.demo_ids["learner"])
            group = group_service.create_group(
                ctx,
                "New starters 2026",
                description="People who joined this year; they take the onboarding courses together.",
            )
            group_service.add_members(ctx, group, [users[uid] for uid in new_starters])
            self.group_ids[group.name] = group.id

            champions = rng.sample(ordinary, k=max(2, len(ordinary) // 20))
            group = group_service.create_group(
                ctx,
                "Safety champions",
                description="Volunteers who promote safe working in each office and act as fire wardens.",
            )
            group_service.add_members(ctx, group, [users[uid] for uid in champions])
            self.group_ids[group.name] = group.id

            mentors = [
                self.demo_ids["manager"],
                *rng.sample(ordinary, k=max(2, len(ordinary) // 25)),
            ]
            group = group_service.create_group(
                ctx,
                "Mentoring circle",
                description="Experienced colleagues who mentor new starters.",
            )
            group_service.add_members(ctx, group, [users[uid] for uid in dict.fromkeys(mentors)])
            self.group_ids[group.name] = group.id
        self.echo(f"  groups: {len(self.group_ids)} groups")

    # ----------------------------------------------------------------- phase 3: courses

    def courses(self) -> None:
        rng = self.rng
        self.specs = _course_specs(self.course_count)
        lessons = 0
        with self.lms.transaction(system=True) as ctx:
            instructors = {
                u.id: u
                for u in ctx.session.scalars(select(User).where(User.id.in_(self.instructor_ids)))
            }
            for index, spec in enumerate(self.specs):
                author = instructors[self.instructor_ids[index % len(self.instructor_ids)]]
                # Created by a course creator: they become its instructor (in this course only).
                as_author = _as(ctx, author)
                course = course_service.create_course(
                    as_author,
                    spec.code,
                    spec.title,
                    summary=spec.summary,
                    category=spec.category,
                    tags=list(spec.tags),
                    enrollment_policy=spec.policy,
                    capacity=spec.capacity,
                    due_days=spec.due_days,
                )
                for lesson in spec.lessons:
                    if isinstance(lesson, _Page):
                        course_service.add_lesson(
                            as_author,
                            course,
                            lesson.title,
                            kind="page",
                            body=_page_body(spec, lesson),
                            required=lesson.required,
                        )
                    else:
                        course_service.add_lesson(
                            as_author,
                            course,
                            lesson.title,
                            kind="link",
                            body=lesson.blurb,
                            url=f"https://example.com{lesson.path}",
                            required=lesson.required,
                        )
                    lessons += 1
                lessons += _file_lessons(as_author, course, spec, first=index == 0)
                if spec.status != CourseStatus.DRAFT:
                    course_service.publish_course(as_author, course)
                # Some courses are co-taught: a second instructor, assigned by the admin.
                if len(self.instructor_ids) > 1 and rng.random() < 0.3:
                    others = [i for i in self.instructor_ids if i != author.id]
                    role_service.assign_role(
                        ctx, instructors[rng.choice(others)], "instructor", course
                    )
                self.course_ids.append(course.id)
        self.echo(f"  courses: {len(self.course_ids)} courses with {lessons} lessons")

    # ----------------------------------------------------------------- phase 4: enrollments

    def enrollments(self) -> None:
        rng = self.rng
        demo_learner = self.demo_ids["learner"]
        with self.lms.transaction(system=True) as ctx:
            session = ctx.session
            users = {
                u.id: u for u in session.scalars(select(User).where(User.id.in_(self.user_ids)))
            }
            manager = users[self.demo_ids["manager"]]
            as_manager = _as(ctx, manager)
            staff = {self.demo_ids["admin"], *self.instructor_ids}
            pool = [uid for uid in self.user_ids if uid not in staff]
            course_rows = {
                c.id: c
                for c in session.scalars(select(Course).where(Course.id.in_(self.course_ids)))
            }
            compliance_round = 0
            for index, (course_id, spec) in enumerate(
                zip(self.course_ids, self.specs, strict=True)
            ):
                course = course_rows[course_id]
                if spec.status == CourseStatus.DRAFT:
                    continue
                required = [lesson for lesson in course.lessons if lesson.required]
                optional = [lesson for lesson in course.lessons if not lesson.required]
                created: list[tuple[Enrollment, str]] = []

                if spec.due_days:
                    # Compliance: whole department groups, enrolled by the manager; the
                    # group stays attached, so people who join later are enrolled too.
                    # Each member was enrolled on their own day (some long enough ago to be
                    # overdue), so the manager enrolls them one by one at that time, then
                    # attaches the groups (which finds nobody left to enroll).
                    names = [
                        self.department_groups[(compliance_round + k) % len(self.department_groups)]
                        for k in range(2)
                    ]
                    if compliance_round == 0:
                        names.append("New starters 2026")
                    compliance_round += 1
                    groups = [self.group_ids[name] for name in dict.fromkeys(names)]
                    members = sorted(
                        set(
                            session.scalars(
                                select(GroupMember.user_id)
                                .join(User, User.id == GroupMember.user_id)
                                .where(GroupMember.group_id.in_(groups), User.is_active.is_(True))
                            )
                        )
                    )
                    plans = self._plans(len(members), compliance=True)
                    for uid, plan in zip(members, plans, strict=True):
                        if uid == demo_learner:
                            plan = "overdue-partial"
                        enrollment = enrollment_service.enroll(
                            as_manager,
                            users[uid],
                            course,
                            source=EnrollmentSource.GROUP,
                            at=self._start(plan, spec.due_days),
                        )
                        created.append((enrollment, plan))
                    for group_id in groups:
                        group = session.get(Group, group_id)
                        assert group is not None
                        enrollment_service.enroll_group(as_manager, group, course)
                else:
                    size = rng.randint(max(4, len(pool) // 8), max(5, len(pool) // 3))
                    if spec.capacity:
                        size = min(size, spec.capacity - 2)
                    roster = rng.sample(pool, k=min(size, len(pool)))
                    if index < 4 and demo_learner not in roster:
                        roster[0] = demo_learner
                    roster.sort(key=self.user_ids.index)
                    plans = self._plans(len(roster), approval=spec.policy == "approval")
                    forced = {1: "completed", 2: "pending", 3: "partial", 6: "completed"}
                    for uid, plan in zip(roster, plans, strict=True):
                        if uid == demo_learner and index in forced:
                            plan = forced[index]
                        user = users[uid]
                        line_manager = users.get(user.manager_id) if user.manager_id else None
                        if spec.policy == "open" and (line_manager is None or rng.random() < 0.7):
                            by = _as(ctx, user)  # learners enroll themselves
                        elif spec.policy == "approval":
                            by = _as(ctx, user)  # a request, approved below unless pending
                        else:
                            by = _as(ctx, line_manager) if line_manager is not None else as_manager
                        start = self._start(plan, spec.due_days)
                        enrollment = enrollment_service.enroll(by, user, course, at=start)
                        if enrollment.status == EnrollmentStatus.PENDING and plan != "pending":
                            enrollment_service.approve(as_manager, enrollment, at=start)
                        created.append((enrollment, plan))

                for enrollment, plan in created:
                    self._progress(
                        ctx, users[enrollment.user_id], enrollment, plan, required, optional
                    )
            session.flush()
        counts = self._status_counts()
        self.echo("  enrollments: " + ", ".join(f"{n} {status}" for status, n in counts.items()))

    def _plans(self, n: int, *, compliance: bool = False, approval: bool = False) -> list[str]:
        """What happens to each of ``n`` enrollments: each outcome once, then weighted draws."""
        if compliance:
            kinds = ["completed", "overdue-none", "overdue-partial", "none", "partial"]
            weights = [45, 12, 10, 18, 15]
        else:
            kinds = ["completed", "partial", "none", "withdrawn"]
            weights = [35, 30, 25, 10]
            if approval:
                kinds.append("pending")
                weights.append(20)
        plans = kinds[:n] + self.rng.choices(kinds, weights=weights, k=max(0, n - len(kinds)))
        self.rng.shuffle(plans)
        return plans

    def _start(self, plan: str, due_days: int | None) -> dt.datetime:
        """When an enrollment with this plan (notionally) started: pending requests are
        recent; overdue compliance started longer ago than its due period."""
        rng = self.rng
        if plan == "pending":
            days_ago = rng.uniform(1, 14)
        elif due_days and plan.startswith("overdue-"):
            days_ago = rng.uniform(due_days + 3, due_days + 45)
        elif due_days and plan != "completed":
            days_ago = rng.uniform(1, due_days - 2)
        else:
            days_ago = rng.uniform(5, 120)
        return self.now - dt.timedelta(days=days_ago)

    def _progress(
        self,
        ctx: Context,
        user: User,
        enrollment: Enrollment,
        plan: str,
        required: Sequence[Lesson],
        optional: Sequence[Lesson],
    ) -> None:
        """Work through the plan at the times it happened: lessons spread from the start to
        the end (the completion, the withdrawal, or some time before now)."""
        rng = self.rng
        me = _as(ctx, user)
        plan = plan.removeprefix("overdue-")
        if enrollment.status == EnrollmentStatus.PENDING:
            return  # a request nobody has answered yet
        if plan == "pending":
            plan = "none"  # the actor's own role enrolled them straight away
        done: list[Lesson] = []
        if plan == "completed":
            done = list(required) + [lesson for lesson in optional if rng.random() < 0.4]
            done.sort(key=lambda lesson: lesson.position)
        elif plan in ("partial", "withdrawn") and len(required) > 1:
            k = rng.randint(1, len(required) - 1) if plan == "partial" else rng.randint(0, 1)
            done = list(required[:k])
        start = enrollment.enrolled_at
        days_ago = (self.now - start) / dt.timedelta(days=1)
        due_days = enrollment.course.due_days
        window = days_ago if not due_days else min(days_ago, due_days - 1)
        if plan == "completed":
            end = start + dt.timedelta(days=rng.uniform(0.2, max(0.3, window - 0.1)))
        elif plan == "withdrawn":
            end = start + dt.timedelta(days=rng.uniform(0.1, max(0.2, days_ago * 0.8)))
        else:
            end = start + dt.timedelta(days=days_ago * rng.uniform(0.2, 0.9))
        for k, lesson in enumerate(done, start=1):
            at = start + (end - start) * (k / len(done))
            progress_service.complete_lesson(me, enrollment, lesson, at=at)
        if plan == "withdrawn":
            # Learners leave what they enrolled in; assigned training is withdrawn by whoever
            # assigned it (learners may not leave it themselves).
            by = me
            if enrollment.source != "self" and enrollment.enrolled_by_id is not None:
                by = _as(ctx, ctx.session.get(User, enrollment.enrolled_by_id) or user)
            enrollment_service.withdraw(by, enrollment, reason="Changed role", at=end)

    # ----------------------------------------------------------------- phase 5: archive

    def archive(self) -> None:
        archived = 0
        with self.lms.transaction(system=True) as ctx:
            for course_id, spec in zip(self.course_ids, self.specs, strict=True):
                if spec.status == CourseStatus.ARCHIVED:
                    course = ctx.session.get(Course, course_id)
                    assert course is not None
                    course_service.archive_course(ctx, course)
                    archived += 1
        if archived:
            self.echo(f"  archived: {archived} retired course(s), their records kept")

    # ----------------------------------------------------------------- summary

    def _status_counts(self) -> dict[str, int]:
        with self.lms.session() as session:
            found = dict(
                session.execute(
                    select(Enrollment.status, func.count()).group_by(Enrollment.status)
                ).all()
            )
        return {s.value: int(found.get(s.value, 0)) for s in EnrollmentStatus}

    def summary(self, seconds: float) -> DemoSummary:
        now = utcnow()
        with self.lms.session() as session:
            users = session.scalar(select(func.count()).select_from(User)) or 0
            departments = session.scalar(select(func.count(func.distinct(User.department)))) or 0
            locations = session.scalar(select(func.count(func.distinct(User.location)))) or 0
            line_managers = session.scalar(select(func.count(func.distinct(User.manager_id)))) or 0
            kinds = Counter(session.scalars(select(Group.kind)))
            statuses = Counter(session.scalars(select(Course.status)))
            lessons = session.scalar(select(func.count()).select_from(Lesson)) or 0
            overdue = (
                session.scalar(
                    select(func.count()).where(
                        Enrollment.status == EnrollmentStatus.ACTIVE,
                        Enrollment.due_at.is_not(None),
                        Enrollment.due_at < now,
                    )
                )
                or 0
            )
            done = session.scalar(select(func.count()).select_from(LessonProgress)) or 0
        accounts = tuple(
            DemoAccount(
                role=p.role,
                email=p.email,
                password=self.passwords[p.role],
                name=p.name,
                what=p.what,
            )
            for p in DEMO_PEOPLE
        )
        return DemoSummary(
            seed=self.seed,
            users=int(users),
            departments=int(departments),
            locations=int(locations),
            line_managers=int(line_managers),
            groups=sum(kinds.values()),
            groups_by_kind={k: kinds[k] for k in sorted(kinds)},
            courses=sum(statuses.values()),
            courses_by_status={
                s.value: statuses[s.value] for s in CourseStatus if statuses[s.value]
            },
            lessons=int(lessons),
            enrollments=self._status_counts(),
            overdue=int(overdue),
            lessons_completed=int(done),
            accounts=accounts,
            seconds=seconds,
        )


def build_demo(
    lms: LMS,
    *,
    users: int = 200,
    courses: int = 20,
    seed: int = 2026,
    reset: bool = True,
    echo: Echo | None = None,
) -> DemoSummary:
    """Fill the (migrated) database with a realistic demo site and say what was made.

    :param users: how many people, the four demo sign-in accounts included.
    :param courses: how many courses (the catalog has 22; more repeat it as new cohorts).
    :param seed: the same seed builds the same people, groups, courses and enrollments.
    :param reset: empty the database first. Without it, a database that already has users
        is refused with :class:`Conflict` (the demo's emails and course codes would clash).
    :param echo: called with one progress line per phase.
    :raises Invalid: for counts too small to show the features.
    """
    say: Echo = echo or (lambda _line: None)
    if isinstance(users, bool) or not isinstance(users, int) or users < MIN_USERS:
        raise Invalid(f"The demo needs at least {MIN_USERS} users; got {users!r}.", field="users")
    if isinstance(courses, bool) or not isinstance(courses, int) or courses < MIN_COURSES:
        raise Invalid(
            f"The demo needs at least {MIN_COURSES} courses; got {courses!r}.", field="courses"
        )
    started = time.perf_counter()
    if reset:
        say("Emptying the database ...")
        _wipe(lms)
    else:
        with lms.session() as session:
            if session.scalars(select(User.id).limit(1)).first() is not None:
                raise Conflict(
                    "The database already has users; use --reset to replace them with the demo site."
                )
    with lms.transaction(system=True) as ctx:
        role_service.ensure_builtin_roles(ctx)
    builder = _Builder(lms, users=users, courses=courses, seed=seed, echo=say)
    say(f"Building the demo site (seed {seed}) ...")
    builder.people()
    builder.groups()
    builder.courses()
    builder.enrollments()
    builder.archive()
    _plugin_content(lms, say)
    _background_work(lms)
    return builder.summary(time.perf_counter() - started)


def _background_work(lms: LMS) -> None:
    """The admin has asked for a prune of old events, so the Schedules page and the admin's
    background tasks show a run (the worker beside ``lms demo`` carries it out)."""
    from lms_core.schedules import run_now

    with lms.session() as session:
        email = next(person.email for person in DEMO_PEOPLE if person.role == "admin")
        admin = session.scalars(select(User).where(User.email == email)).first()
    if admin is None:
        return
    with lms.transaction(admin) as ctx:
        run_now(ctx, "core.prune_outbox")


def _plugin_content(lms: LMS, say: Echo) -> None:
    """Let enabled plugins add their demo content (``lms_demo_content``), then deliver."""
    from sqlalchemy import select

    from lms_core import outbox
    from lms_core.models import Course
    from lms_core.models import CourseStatus

    implementations = lms.hooks.implementations("lms_demo_content")
    if not implementations:
        return
    for name, fn in implementations:
        with lms.transaction(system=True) as ctx:
            courses = list(
                ctx.session.scalars(
                    select(Course).order_by(Course.status != CourseStatus.PUBLISHED, Course.id)
                )
            )
            fn(ctx=ctx, courses=courses)
        say(f"  {name}: demo content added")
    while outbox.deliver_due(lms, worker="demo", limit=500):
        pass
