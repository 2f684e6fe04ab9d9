from lms_core.models import EnrollmentStatus
from lms_core.services import enrollments
from lms_core.services import progress


def test_a_learner_completes_a_course_by_completing_its_required_lessons(lms, factory):
    learner = factory.user()
    course = factory.course(lessons=2, optional_lessons=1)
    with lms.transaction(learner) as ctx:
        enrollment = enrollments.enroll(ctx, learner, course)
        required = [lesson for lesson in ctx.attach(course).lessons if lesson.required]
        for lesson in required:
            progress.complete_lesson(ctx, enrollment, lesson)
        assert enrollment.status == EnrollmentStatus.COMPLETED
