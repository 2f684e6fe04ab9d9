"""Flask-WTF forms shared by the web pages (every form carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import EmailField
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import EqualTo
from wtforms.validators import Length


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(message="Enter your email address.")])
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")])
    remember = BooleanField("Keep me signed in")
    next = StringField()


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password")
    new_password = PasswordField(
        "New password",
        validators=[DataRequired(message="Choose a new password."), Length(max=1024)],
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[EqualTo("new_password", message="The two passwords differ.")],
    )


class ResetRequestForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(message="Enter your email address.")])


class ResetForm(FlaskForm):
    new_password = PasswordField(
        "New password",
        validators=[DataRequired(message="Choose a new password."), Length(max=1024)],
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[EqualTo("new_password", message="The two passwords differ.")],
    )


class EmptyForm(FlaskForm):
    """A form with nothing but its CSRF token, for buttons that POST."""
