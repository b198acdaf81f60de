"""The rights of the people in the CRM (GDPR): access and portability first."""
